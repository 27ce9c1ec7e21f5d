// fuzz/stb_image_impl.cpp — stb_image's decoders compiled into the fuzz targets (with coverage and
// the sanitizers), instead of Debian's prebuilt libstb, so the fuzzer sees inside them.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
