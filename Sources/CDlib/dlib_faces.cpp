// The C API of CDlib.h over dlib. Every exception stops here and becomes an error message.
#include "CDlib.h"

#include <dlib/image_io.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

struct cdlib_image {
    dlib::array2d<dlib::rgb_pixel> pixels;
};

struct cdlib_detector {
    dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
};

struct cdlib_predictor {
    dlib::shape_predictor predictor;
};

namespace {

void report(const std::string &message, char *error, int capacity) {
    if (error && capacity > 0) {
        std::strncpy(error, message.c_str(), capacity - 1);
        error[capacity - 1] = 0;
    }
}

dlib::array2d<dlib::rgb_pixel> image_from(const uint8_t *rgb, int width, int height, int stride) {
    dlib::array2d<dlib::rgb_pixel> image(height, width);
    for (int y = 0; y < height; y++) {
        const uint8_t *row = rgb + (long)y * stride;
        for (int x = 0; x < width; x++) image[y][x] = dlib::rgb_pixel(row[3 * x], row[3 * x + 1], row[3 * x + 2]);
    }
    return image;
}

dlib::rectangle rectangle_of(const cdlib_face &box) { return dlib::rectangle(box.left, box.top, box.right, box.bottom); }

}  // namespace

extern "C" {

cdlib_image *cdlib_image_create(const uint8_t *rgb, int width, int height, int stride) {
    try {
        auto made = new cdlib_image();
        made->pixels = image_from(rgb, width, height, stride);
        return made;
    } catch (...) {
        return nullptr;
    }
}

void cdlib_image_free(cdlib_image *image) { delete image; }

cdlib_detector *cdlib_detector_create(void) {
    try {
        return new cdlib_detector();
    } catch (...) {
        return nullptr;
    }
}

void cdlib_detector_free(cdlib_detector *detector) { delete detector; }

int cdlib_detect(cdlib_detector *detector, const cdlib_image *source, int upsample,
                 double threshold, cdlib_face *faces, int capacity, char *error, int error_capacity) {
    try {
        const auto &image = source->pixels;
        std::vector<dlib::rect_detection> detections;
        dlib::pyramid_down<2> pyramid;
        if (upsample <= 0) {
            detector->detector(image, detections, threshold);
        } else {
            dlib::array2d<dlib::rgb_pixel> larger;
            dlib::pyramid_up(image, larger, pyramid);
            for (int i = 1; i < upsample; i++) dlib::pyramid_up(larger);
            detector->detector(larger, detections, threshold);
            for (auto &detection : detections) detection.rect = pyramid.rect_down(detection.rect, upsample);
        }
        int count = (int)detections.size();
        for (int i = 0; i < count && i < capacity; i++) {
            const auto &r = detections[i].rect;
            faces[i] = cdlib_face{r.left(), r.top(), r.right(), r.bottom(), detections[i].detection_confidence,
                                  (int)detections[i].weight_index};
        }
        return count;
    } catch (const std::exception &failure) {
        report(failure.what(), error, error_capacity);
        return -1;
    }
}

int cdlib_detect_downscaled(cdlib_detector *detector, const cdlib_image *source, int max_side,
                            double threshold, cdlib_face *faces, int capacity, char *error, int error_capacity) {
    try {
        const auto &image = source->pixels;
        const int width = (int)image.nc(), height = (int)image.nr();
        double scale = 1.0;
        std::vector<dlib::rect_detection> detections;
        int longer = width > height ? width : height;
        if (max_side > 0 && longer > max_side) {
            scale = (double)max_side / longer;
            dlib::array2d<dlib::rgb_pixel> small((long)std::lround(height * scale), (long)std::lround(width * scale));
            dlib::resize_image(image, small, dlib::interpolate_bilinear());
            detector->detector(small, detections, threshold);
        } else {
            detector->detector(image, detections, threshold);
        }
        int count = (int)detections.size();
        for (int i = 0; i < count && i < capacity; i++) {
            const auto &r = detections[i].rect;
            faces[i] = cdlib_face{std::lround(r.left() / scale), std::lround(r.top() / scale), std::lround(r.right() / scale),
                                  std::lround(r.bottom() / scale), detections[i].detection_confidence, (int)detections[i].weight_index};
        }
        return count;
    } catch (const std::exception &failure) {
        report(failure.what(), error, error_capacity);
        return -1;
    }
}

cdlib_predictor *cdlib_predictor_load(const char *path, char *error, int error_capacity) {
    try {
        auto loaded = new cdlib_predictor();
        dlib::deserialize(path) >> loaded->predictor;
        return loaded;
    } catch (const std::exception &failure) {
        report(std::string(path) + ": " + failure.what(), error, error_capacity);
        return nullptr;
    }
}

void cdlib_predictor_free(cdlib_predictor *predictor) { delete predictor; }

int cdlib_predictor_parts(const cdlib_predictor *predictor) { return (int)predictor->predictor.num_parts(); }

int cdlib_landmarks(const cdlib_predictor *predictor, const cdlib_image *image, cdlib_face box, long *points,
                    char *error, int error_capacity) {
    try {
        auto shape = predictor->predictor(image->pixels, rectangle_of(box));
        for (unsigned long i = 0; i < shape.num_parts(); i++) {
            points[2 * i] = shape.part(i).x();
            points[2 * i + 1] = shape.part(i).y();
        }
        return 0;
    } catch (const std::exception &failure) {
        report(failure.what(), error, error_capacity);
        return -1;
    }
}

int cdlib_face_chip(const cdlib_image *image, cdlib_face box, const long *points, int parts,
                    int size, double padding, uint8_t *chip, double *rect, double *angle, char *error, int error_capacity) {
    try {
        std::vector<dlib::point> part_points;
        for (int i = 0; i < parts; i++) part_points.emplace_back(points[2 * i], points[2 * i + 1]);
        dlib::full_object_detection shape(rectangle_of(box), part_points);
        auto details = dlib::get_face_chip_details(shape, size, padding);
        dlib::array2d<dlib::rgb_pixel> out;
        dlib::extract_image_chip(image->pixels, details, out);
        for (long y = 0; y < out.nr(); y++)
            for (long x = 0; x < out.nc(); x++) {
                uint8_t *pixel = chip + 3 * (y * size + x);
                pixel[0] = out[y][x].red;
                pixel[1] = out[y][x].green;
                pixel[2] = out[y][x].blue;
            }
        rect[0] = details.rect.left();
        rect[1] = details.rect.top();
        rect[2] = details.rect.right();
        rect[3] = details.rect.bottom();
        *angle = details.angle;
        return 0;
    } catch (const std::exception &failure) {
        report(failure.what(), error, error_capacity);
        return -1;
    }
}

int cdlib_load_rgb(const char *path, uint8_t **rgb, int *width, int *height, char *error, int error_capacity) {
    try {
        dlib::array2d<dlib::rgb_pixel> image;
        dlib::load_image(image, path);
        *width = (int)image.nc();
        *height = (int)image.nr();
        auto *bytes = (uint8_t *)std::malloc((size_t)image.size() * 3);
        if (!bytes) throw std::bad_alloc();
        for (long y = 0; y < image.nr(); y++)
            for (long x = 0; x < image.nc(); x++) {
                uint8_t *pixel = bytes + 3 * (y * image.nc() + x);
                pixel[0] = image[y][x].red;
                pixel[1] = image[y][x].green;
                pixel[2] = image[y][x].blue;
            }
        *rgb = bytes;
        return 0;
    } catch (const std::exception &failure) {
        report(std::string(path) + ": " + failure.what(), error, error_capacity);
        return -1;
    }
}

void cdlib_free(void *memory) { std::free(memory); }

int cdlib_save_png(const uint8_t *rgb, int width, int height, const char *path, char *error, int error_capacity) {
    try {
        auto image = image_from(rgb, width, height, width * 3);
        dlib::save_png(image, path);
        return 0;
    } catch (const std::exception &failure) {
        report(std::string(path) + ": " + failure.what(), error, error_capacity);
        return -1;
    }
}

}  // extern "C"
