# MultimodalEmotion: every entry point a user or CI needs. Each target installs what is missing first.
SWIFT ?= swift
EMOTION := .build/release/emotion
MELD_URL := http://web.eecs.umich.edu/~mihalcea/downloads/MELD.Raw.tar.gz
MELD_SHA256 := a56b4407d574195cbce470d86f9c9d72fcfea59b0e34502ecd4babee4a5c613e
MELD_BYTES := 10878146150
BENCHES := dag synth media model loader train mpi infer watch

.PHONY: setup build demo test test-asan oracles reproduce reproduce-frozen data $(addprefix bench-,$(BENCHES)) onnx-proto clean-cache

setup:
	@bash scripts/setup.sh

## The front end `emotion` and its worker program `emotion-worker`, side by side in .build/release.
build: setup
	$(SWIFT) build -c release --product emotion
	$(SWIFT) build -c release --product emotion-worker
	$(SWIFT) build -c release --product emotion-speak

## The whole pipeline, end to end, on a dataset the project generates itself.
demo: build
	$(EMOTION) run pipelines/demo.yaml

## Every test, in release mode (numeric code runs 10-75x slower in debug), with the Python oracles first on PATH.
test: setup oracles
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(SWIFT) test -c release --disable-swift-testing

## The media, faces, inference and watch tests, the frame-size sweep and the fuzz pass, built with AddressSanitizer
## (C and C++ targets too) in .build/asan: a read or write past a buffer in our code stops the test that made it.
## The watch tests that pace live input are left out: an instrumented build falls behind and drops windows by design.
## CI runs it after `make test`.
ASAN_TESTS := MediaTests|FacesTests|InferenceTests|InferCommandTests|WatchCommandTests/testAFile|WatchCommandTests/testAStream|FrameSizeSweepTests|FuzzTests|SafetensorsTests
test-asan: setup oracles
	$(SWIFT) build -c release --sanitize=address --scratch-path .build/asan --build-tests -Xswiftc -enable-testing
	EMOTION_ASAN=1 ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:max_allocation_size_mb=4096 PATH="$(CURDIR)/.venv/bin:$$PATH" \
		$(SWIFT) test -c release --sanitize=address --scratch-path .build/asan --skip-build --disable-swift-testing --filter '$(ASAN_TESTS)'

## The Python packages the tests compare with (onnxruntime, onnx, scikit-learn, safetensors, librosa), pinned in
## scripts/oracles.txt, in a project-local venv. Without a registry the tests that need them skip, saying so.
oracles: .venv/.installed
.venv/.installed: scripts/oracles.txt
	@python3 -m venv .venv && .venv/bin/pip install -q --disable-pip-version-check -r scripts/oracles.txt && touch $@ \
		|| echo "oracles: could not install scripts/oracles.txt into .venv; tests that need them will skip"

## The whole pipeline on MELD.Raw (fetch it first with `make data`), end to end as the reference system trains; with
## DATASET=crema-d, crema-d-folds, ravdess, iemocap, iemocap-av or folder, on that corpus (licensed, not downloaded: pipelines/DATASET.yaml says
## where it looks, and VARS="dataset=PATH" says otherwise).
DATASET ?= meld
VARS ?=
reproduce: build
	@test -f pipelines/$(DATASET).yaml || { echo "no pipelines/$(DATASET).yaml: DATASET is meld, crema-d, crema-d-folds, ravdess, iemocap, iemocap-av or folder"; exit 1; }
	@test "$(DATASET)" != meld || test -d data/MELD.Raw || { echo "data/MELD.Raw is missing: run 'make data' (needs network), or link your copy there"; exit 1; }
	$(EMOTION) run pipelines/$(DATASET).yaml --until results --until export $(addprefix --var ,$(VARS))

## The same on MELD with the face trunk frozen at ImageNet's weights and its features cached once: fits a CPU.
reproduce-frozen: build
	@test -d data/MELD.Raw || { echo "data/MELD.Raw is missing: run 'make data' (needs network), or link your copy there"; exit 1; }
	@test -f data/weights/resnet18_imagenet.safetensors || { echo "data/weights/resnet18_imagenet.safetensors is missing: run 'make data'"; exit 1; }
	$(EMOTION) run pipelines/meld.yaml --until results_frozen --until export_frozen

## Downloads and unpacks MELD.Raw (10.9 GB) into data/MELD.Raw, checking its size and SHA-256, and writes torchvision's
## ImageNet ResNet-18 weights as data/weights/resnet18_imagenet.safetensors for the frozen recipe.
data:
	@bash scripts/fetch-meld.sh "$(MELD_URL)" "$(MELD_BYTES)" "$(MELD_SHA256)"
	@python3 scripts/fetch-resnet18.py --out data/weights/resnet18_imagenet.safetensors

## make bench-NAME runs scripts/bench_NAME.py: figures beside their anchor measured in the same run (docs/BENCHMARKS.md).
## The anchors (onnxruntime, librosa) come from the oracles' venv, first on PATH as for the tests.
$(addprefix bench-,$(BENCHES)): bench-%: setup oracles
	@PATH="$(CURDIR)/.venv/bin:$$PATH" python3 scripts/bench_$*.py

## Drops cache entries no run record references.
clean-cache: build
	$(EMOTION) gc

## Regenerates Sources/ONNX/onnx.pb.swift from the onnx.proto of Python's onnx package, with protoc and swift-protobuf's
## plugin (its first build takes minutes, so the generated file is committed; run this only to follow a new ONNX schema).
onnx-proto:
	@command -v protoc >/dev/null || apt-get install -y protobuf-compiler
	$(SWIFT) build -c release --product protoc-gen-swift --package-path .build/checkouts/swift-protobuf
	protoc --plugin=.build/checkouts/swift-protobuf/.build/release/protoc-gen-swift --swift_opt=Visibility=Public \
		--swift_out=Sources/ONNX --proto_path="$$(python3 -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')" onnx.proto
