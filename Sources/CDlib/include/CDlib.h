// dlib's face detector, landmark predictor and chip extraction behind a narrow C API: dlib's templates do not
// import into Swift usefully, and C++ interoperability would spread to every module that imports this one.
#ifndef CDLIB_H
#define CDLIB_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdlib_image cdlib_image;
typedef struct cdlib_detector cdlib_detector;
typedef struct cdlib_predictor cdlib_predictor;

/// One detection: an inclusive box (it may extend past the image), its score and the sub-detector that fired.
typedef struct {
    long left, top, right, bottom;
    double score;
    int detector_index;
} cdlib_face;

/// An RGB image in dlib's own format, converted once and used by every call on the same frame.
cdlib_image *cdlib_image_create(const uint8_t *rgb, int width, int height, int stride);
void cdlib_image_free(cdlib_image *image);

/// A HOG frontal face detector. Not thread-safe: one per thread.
cdlib_detector *cdlib_detector_create(void);
void cdlib_detector_free(cdlib_detector *detector);

/// Detects faces in an image, after upsampling `upsample` times as dlib's Python
/// `detector.run(image, upsample, threshold)` does. Writes at most `capacity` faces, best first; returns how
/// many were found (which may exceed `capacity`), or -1 with `error` filled.
int cdlib_detect(cdlib_detector *detector, const cdlib_image *image, int upsample,
                 double threshold, cdlib_face *faces, int capacity, char *error, int error_capacity);

/// Like cdlib_detect without upsampling, on a bilinear copy shrunk so its longer side is `max_side` when the
/// image is larger (dlib's resize_image); boxes are scaled back to full resolution.
int cdlib_detect_downscaled(cdlib_detector *detector, const cdlib_image *image, int max_side,
                            double threshold, cdlib_face *faces, int capacity, char *error, int error_capacity);

/// Loads a shape predictor (`shape_predictor_68_face_landmarks.dat`). Thread-safe once loaded.
cdlib_predictor *cdlib_predictor_load(const char *path, char *error, int error_capacity);
void cdlib_predictor_free(cdlib_predictor *predictor);
int cdlib_predictor_parts(const cdlib_predictor *predictor);

/// Landmarks of the face in `box`: `2 * parts` longs, x then y for each part. Returns 0, or -1 with `error`.
int cdlib_landmarks(const cdlib_predictor *predictor, const cdlib_image *image, cdlib_face box, long *points, char *error, int error_capacity);

/// dlib's `get_face_chip_details(shape, size, padding)` and `extract_image_chip`: writes `size * size * 3` bytes
/// of RGB to `chip`, and the chip's source rectangle (left, top, right, bottom) and angle.
int cdlib_face_chip(const cdlib_image *image, cdlib_face box, const long *points, int parts,
                    int size, double padding, uint8_t *chip, double *rect, double *angle, char *error, int error_capacity);

/// Decodes an image file with dlib's own loaders (libjpeg, libpng), as dlib's Python `load_rgb_image` does.
/// On success `*rgb` holds `width * height * 3` bytes to release with `cdlib_free`.
int cdlib_load_rgb(const char *path, uint8_t **rgb, int *width, int *height, char *error, int error_capacity);
void cdlib_free(void *memory);

/// Writes packed RGB as a PNG with dlib's writer (libpng).
int cdlib_save_png(const uint8_t *rgb, int width, int height, const char *path, char *error, int error_capacity);

#ifdef __cplusplus
}
#endif
#endif
