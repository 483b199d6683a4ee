// The Catch2 runner for tests/unit: a plain main, no EAL.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
