# Optional shorthand for the scripts (nothing requires make; a fresh Debian has none).
#   make run ARGS="--mode pinned"   = bash scripts/run.sh --mode pinned
#   make test                       = bash scripts/test.sh
#   make test-asan                  = bash scripts/test.sh --asan
#   make fuzz                       = bash scripts/run-fuzz.sh
#   make deb                        = bash scripts/build-deb.sh   (.deb files in build-deb/)
#   make package-test               = bash tests/package/install_test.sh
#   make ci                         = .ci/run
ARGS ?=

.PHONY: deps run test test-asan fuzz deb package-test ci clean

deps:
	bash scripts/install-deps.sh all

run:
	bash scripts/run.sh $(ARGS)

test:
	bash scripts/test.sh

test-asan:
	bash scripts/test.sh --asan

fuzz:
	bash scripts/run-fuzz.sh

deb:
	bash scripts/build-deb.sh

package-test:
	bash tests/package/install_test.sh

ci:
	bash .ci/run

clean:
	rm -rf build build-asan build-fuzz
