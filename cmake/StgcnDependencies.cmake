# Finds every build dependency quietly and, when one is missing, stops with one
# line that names the Debian package providing it (scripts/setup.sh installs them
# all) instead of CMake's stack trace from inside another package's config file.
#
#   stgcn_require(<Debian package> <find_package arguments...>)
#   stgcn_require_pkgconfig(<Debian package> <prefix> <pkg-config module>)

# The one line goes to stderr unwrapped (scripts/build.sh shows only it); CMake's own error
# block with its call stack follows for those who run cmake by hand.
function(stgcn_missing what debian_package)
  message(NOTICE
    "stgcn-rt: missing dependency ${what}: install the Debian package '${debian_package}' "
    "(bash scripts/setup.sh installs everything the build and the tests need)")
  message(FATAL_ERROR "stgcn-rt: missing dependency ${what} (see the line above)")
endfunction()

macro(stgcn_require debian_package name)
  find_package(${name} ${ARGN} QUIET)
  if(NOT ${name}_FOUND)
    stgcn_missing("${name}" "${debian_package}")
  endif()
endmacro()

macro(stgcn_require_pkgconfig debian_package prefix module)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${module})
  if(NOT ${prefix}_FOUND)
    stgcn_missing("${module} (pkg-config)" "${debian_package}")
  endif()
endmacro()

find_package(PkgConfig QUIET)
if(NOT PkgConfig_FOUND)
  stgcn_missing("pkg-config" "pkg-config")
endif()
# libzip's CMake config needs the zipcmp/zipmerge tools; pkg-config does not.
stgcn_require_pkgconfig(libzip-dev LIBZIP libzip)
stgcn_require(nlohmann-json3-dev nlohmann_json)
stgcn_require(libprotobuf-dev Protobuf)  # ONNX's CMake targets link protobuf::libprotobuf
stgcn_require(libonnx-dev ONNX)         # ONNX protobuf, checker, shape inference
stgcn_require(libfmt-dev fmt)
stgcn_require(libssl-dev OpenSSL COMPONENTS Crypto)  # SHA-256 of exports and engine files
# Debian's oneDNN is built with the OpenCL GPU runtime: its CMake config requires the
# OpenCL headers and loader, which libdnnl-dev only recommends.
stgcn_require(ocl-icd-opencl-dev OpenCL)
stgcn_require(libdnnl-dev dnnl)           # oneDNN 2.x: the CPU backend
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  stgcn_require(libomp-dev OpenMP)        # clang's OpenMP runtime (the fuzz build)
else()
  stgcn_require(build-essential OpenMP)   # GCC's libgomp
endif()
if(STGCN_BUILD_CLI)
  stgcn_require(libcli11-dev CLI11)
endif()
if(STGCN_BUILD_TESTS)
  stgcn_require(libgtest-dev GTest)
  find_library(STGCN_GMOCK_LIBRARY gmock)
  if(NOT STGCN_GMOCK_LIBRARY)
    stgcn_missing("GoogleMock" "libgmock-dev")
  endif()
endif()
if(STGCN_FUZZ)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libclang_rt.fuzzer-x86_64.a
    OUTPUT_VARIABLE STGCN_FUZZER_RT OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT IS_ABSOLUTE "${STGCN_FUZZER_RT}" OR NOT EXISTS "${STGCN_FUZZER_RT}")
    stgcn_missing("libFuzzer runtime (libclang_rt.fuzzer)" "libclang-rt-14-dev")
  endif()
endif()
