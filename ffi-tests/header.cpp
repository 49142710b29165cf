// The header compiles as C++ (extern "C" guards, no C-only constructs); the symbols keep
// their C names, which the link in tests/c_api.rs checks.
#include "bitnet.h"

#include <cstdio>

int main() {
    bitnet_model_params mp = bitnet_model_default_params();
    bitnet_context_params cp = bitnet_context_default_params();
    bitnet_status s = bitnet_model_load(nullptr, &mp, nullptr);
    std::printf("ok c++ %s %d %u %s\n", bitnet_version(), static_cast<int>(s), cp.n_batch,
                bitnet_status_str(s));
    return s == BITNET_ERR_NULL_POINTER ? 0 : 1;
}
