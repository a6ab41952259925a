# `stgcn serve` (src/serve, docs/serving.md): the KServe v2 / Triton service definition compiled
# by protoc + grpc_cpp_plugin, gRPC C++ and cpp-httplib (Debian packages, scripts/setup.sh).
stgcn_require(libgrpc++-dev gRPC)
find_program(STGCN_PROTOC protoc)
if(NOT STGCN_PROTOC)
  stgcn_missing("protoc" "protobuf-compiler")
endif()
find_program(STGCN_GRPC_CPP_PLUGIN grpc_cpp_plugin)
if(NOT STGCN_GRPC_CPP_PLUGIN)
  stgcn_missing("grpc_cpp_plugin" "protobuf-compiler-grpc")
endif()
stgcn_require_pkgconfig(libcpp-httplib-dev HTTPLIB cpp-httplib)

set(STGCN_SERVE_PROTO_DIR ${CMAKE_CURRENT_SOURCE_DIR}/src/serve/proto)
set(STGCN_SERVE_GEN_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated/serve)
file(MAKE_DIRECTORY ${STGCN_SERVE_GEN_DIR})
set(gen_srcs)
set(protos)
foreach(p grpc_service model_config)
  list(APPEND protos ${STGCN_SERVE_PROTO_DIR}/${p}.proto)
  list(APPEND gen_srcs ${STGCN_SERVE_GEN_DIR}/${p}.pb.cc ${STGCN_SERVE_GEN_DIR}/${p}.grpc.pb.cc)
endforeach()
set(gen_headers)
foreach(s ${gen_srcs})
  string(REPLACE ".cc" ".h" h ${s})
  list(APPEND gen_headers ${h})
endforeach()
add_custom_command(
  OUTPUT ${gen_srcs} ${gen_headers}
  COMMAND ${STGCN_PROTOC} -I ${STGCN_SERVE_PROTO_DIR} --cpp_out=${STGCN_SERVE_GEN_DIR}
          --grpc_out=${STGCN_SERVE_GEN_DIR}
          --plugin=protoc-gen-grpc=${STGCN_GRPC_CPP_PLUGIN} ${protos}
  DEPENDS ${protos}
  COMMENT "Generating the KServe v2 gRPC service (src/serve/proto)")
# Generated code: built without our warning flags.
add_library(stgcn_serve_proto STATIC ${gen_srcs})
target_include_directories(stgcn_serve_proto PUBLIC ${STGCN_SERVE_GEN_DIR})
target_link_libraries(stgcn_serve_proto PUBLIC gRPC::grpc++ protobuf::libprotobuf)
set_target_properties(stgcn_serve_proto PROPERTIES POSITION_INDEPENDENT_CODE ON)

stgcn_area(stgcn_serve DIRS serve DEPS stgcn_engine stgcn_runtime stgcn_serve_proto
                                       nlohmann_json::nlohmann_json PkgConfig::HTTPLIB)
