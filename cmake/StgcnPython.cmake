# The `stgcn` Python package's extension (python/bindings, nanobind; docs/python.md). Built
# when STGCN_PYTHON_PACKAGE is ON: scripts/build.sh turns it on (setup.sh puts nanobind in .venv), and
# pyproject.toml does for `pip install .` / `pip wheel .` (scikit-build-core).
if(NOT DEFINED Python_EXECUTABLE AND NOT DEFINED SKBUILD AND EXISTS "${CMAKE_SOURCE_DIR}/.venv/bin/python")
  set(Python_EXECUTABLE "${CMAKE_SOURCE_DIR}/.venv/bin/python")
endif()
find_package(Python 3.9 COMPONENTS Interpreter Development.Module)
if(NOT Python_FOUND)
  message(FATAL_ERROR "stgcn-rt: missing the Python headers for the extension: install the Debian package 'python3-dev' (bash scripts/setup.sh)")
endif()
execute_process(COMMAND "${Python_EXECUTABLE}" -m nanobind --cmake_dir
                OUTPUT_VARIABLE nanobind_ROOT OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE nb_rc ERROR_QUIET)
if(NOT nb_rc EQUAL 0)
  message(FATAL_ERROR "stgcn-rt: missing nanobind for ${Python_EXECUTABLE}: pip install nanobind (bash scripts/setup.sh does)")
endif()
find_package(nanobind CONFIG REQUIRED)

# The stable ABI (one wheel for every CPython >= 3.12) where the interpreter has it.
set(stgcn_abi)
if(Python_VERSION VERSION_GREATER_EQUAL 3.12)
  set(stgcn_abi STABLE_ABI)
endif()
file(GLOB STGCN_PY_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/python/bindings/*.cpp)
nanobind_add_module(_stgcn NB_STATIC ${stgcn_abi} ${STGCN_PY_SOURCES})
target_compile_options(_stgcn PRIVATE ${STGCN_WARNINGS})
target_compile_definitions(_stgcn PRIVATE STGCN_VERSION="${PROJECT_VERSION}")
target_link_libraries(_stgcn PRIVATE stgcn nlohmann_json::nlohmann_json)

# In the build tree the package is importable from build/python (the tests use it there).
set(STGCN_PY_TREE ${CMAKE_BINARY_DIR}/python/stgcn)
set_target_properties(_stgcn PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${STGCN_PY_TREE})
file(GLOB STGCN_PY_FILES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/python/stgcn/*.py
     ${CMAKE_CURRENT_SOURCE_DIR}/python/stgcn/py.typed)
set(stgcn_py_copies)
foreach(f ${STGCN_PY_FILES})
  get_filename_component(name ${f} NAME)
  add_custom_command(OUTPUT ${STGCN_PY_TREE}/${name} COMMAND ${CMAKE_COMMAND} -E copy ${f} ${STGCN_PY_TREE}/${name}
                     DEPENDS ${f} VERBATIM)
  list(APPEND stgcn_py_copies ${STGCN_PY_TREE}/${name})
endforeach()
add_custom_target(stgcn_py_files ALL DEPENDS ${stgcn_py_copies})
add_dependencies(_stgcn stgcn_py_files)

# Type stubs from the compiled module (help() shows the same docstrings).
nanobind_add_stub(_stgcn_stub MODULE stgcn._stgcn OUTPUT ${STGCN_PY_TREE}/_stgcn.pyi
                  PYTHON_PATH ${CMAKE_BINARY_DIR}/python DEPENDS _stgcn stgcn_py_files)

install(TARGETS _stgcn LIBRARY DESTINATION stgcn)
install(FILES ${STGCN_PY_TREE}/_stgcn.pyi DESTINATION stgcn)
