# Convenience front-end over CMake; README's Quick start uses `make run` and `make test`.
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps build run test build-asan test-asan fuzz clean

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DDANE_WERROR=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# The main job. Until dane-policyd lands this shows danectl on the bundled example certificate.
run: build
	./$(BUILD)/danectl/danectl tlsa --host mail.example.com contrib/example/mail.example.com.pem

test: build
	ctest --test-dir $(BUILD) --output-on-failure

build-asan: deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DDANE_WERROR=ON -DDANE_SANITIZE=ON -DDANE_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) build-fuzz
