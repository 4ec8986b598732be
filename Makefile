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

# The main job: dane-policyd in the foreground with its embedded defaults (socketmap on
# unix:/run/dane-policyd/socketmap, native mode, DNSSEC validation from the root trust anchor).
# Stop it with Ctrl-C. Extra options: make run ARGS="--mode pinned --verdict-log /tmp/verdicts.jsonl"
ARGS ?=
run: build
	@echo "dane-policyd: serving socketmap on unix:/run/dane-policyd/socketmap (Ctrl-C stops it)"
	@echo "  try, from another shell:  postmap -q example.com socketmap:unix:/run/dane-policyd/socketmap:tlspolicy"
	@echo "  Postfix main.cf:          smtp_tls_policy_maps = socketmap:unix:/run/dane-policyd/socketmap:tlspolicy"
	./$(BUILD)/policyd/dane-policyd --foreground $(ARGS)

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
