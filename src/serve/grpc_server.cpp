#include "serve/grpc_server.h"

#include <fmt/format.h>

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <fstream>
#include <iterator>
#include <string_view>

#include "grpc_service.grpc.pb.h"
#include "serve/grpc_convert.h"

namespace stgcn::serve {
namespace {

constexpr std::string_view kProtocol = "grpc";
// Threads beyond the request threads: the server's pollers.
constexpr int kExtraThreads = 4;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

grpc::Status to_status(const Error& e) {
  if (e.ok()) return grpc::Status::OK;
  return grpc::Status(to_grpc_status(e.code), e.message);
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad() && !out.empty();
}

// host:port, an IPv6 literal in brackets.
std::string listen_address(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos && !host.starts_with("[");
  return v6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

}  // namespace

class GrpcServer::Service final : public inference::GRPCInferenceService::Service {
 public:
  Service(Core& core, std::string token) : core_(core), token_(std::move(token)) {}

  grpc::Status ServerLive(grpc::ServerContext* ctx, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* response) override {
    if (grpc::Status s = authorize(ctx, Clock::now()); !s.ok()) return s;
    response->set_live(core_.live());
    return grpc::Status::OK;
  }

  grpc::Status ServerReady(grpc::ServerContext* ctx, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* response) override {
    if (grpc::Status s = authorize(ctx, Clock::now()); !s.ok()) return s;
    response->set_ready(core_.ready());
    return grpc::Status::OK;
  }

  // A known model that is not (yet, or any more) ready answers ready=false; an unknown one
  // NOT_FOUND.
  grpc::Status ModelReady(grpc::ServerContext* ctx, const inference::ModelReadyRequest* request,
                          inference::ModelReadyResponse* response) override {
    if (grpc::Status s = authorize(ctx, Clock::now()); !s.ok()) return s;
    const Error e = core_.model_ready(request->name(), request->version());
    if (!e.ok() && e.code != Code::kUnavailable) return to_status(e);
    response->set_ready(e.ok());
    return grpc::Status::OK;
  }

  grpc::Status ServerMetadata(grpc::ServerContext* ctx, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* response) override {
    if (grpc::Status s = authorize(ctx, Clock::now()); !s.ok()) return s;
    to_proto(core_.server_metadata(), *response);
    return grpc::Status::OK;
  }

  grpc::Status ModelMetadata(grpc::ServerContext* ctx,
                             const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    if (grpc::Status s = authorize(ctx, Clock::now()); !s.ok()) return s;
    serve::ModelMetadata metadata;
    if (Error e = core_.model_metadata(request->name(), request->version(), metadata); !e.ok()) {
      return to_status(e);
    }
    to_proto(metadata, *response);
    return grpc::Status::OK;
  }

  grpc::Status ModelConfig(grpc::ServerContext* ctx, const inference::ModelConfigRequest* request,
                           inference::ModelConfigResponse* response) override {
    if (grpc::Status s = authorize(ctx, Clock::now()); !s.ok()) return s;
    serve::ModelConfig config;
    if (Error e = core_.model_config(request->name(), request->version(), config); !e.ok()) {
      return to_status(e);
    }
    to_proto(config, *response->mutable_config());
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    const auto t0 = Clock::now();
    if (grpc::Status s = authorize(ctx, t0); !s.ok()) return s;
    return to_status(infer(*request, *response, t0));
  }

  // One answer per request, in order; a failed request answers error_message (with the
  // request's model and id in infer_response) and the stream goes on.
  grpc::Status ModelStreamInfer(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<inference::ModelStreamInferResponse, inference::ModelInferRequest>*
          stream) override {
    if (grpc::Status s = authorize(ctx, Clock::now()); !s.ok()) return s;
    // Pipelined: a reader takes requests as they come, kLanes workers answer them (the
    // requests of one sequence in one lane, so in order; others round-robin) and this thread
    // writes the responses in request order. At most kMaxPending requests wait (then the
    // reader stops reading: gRPC's flow control holds the client back).
    struct Item {
      inference::ModelInferRequest request;
      inference::ModelStreamInferResponse response;
      Clock::time_point t0;
      bool done = false;
    };
    std::mutex mu;
    // One condition per waiter kind, each notified only when its own wait may end.
    std::vector<std::condition_variable> lane_cv(kLanes);
    std::condition_variable writer_cv, reader_cv;
    auto wake_all = [&] {
      for (auto& c : lane_cv) c.notify_all();
      writer_cv.notify_all();
      reader_cv.notify_all();
    };
    std::deque<std::shared_ptr<Item>> order;
    std::vector<std::deque<std::shared_ptr<Item>>> lanes(kLanes);
    bool read_done = false, stop = false;
    size_t next_lane = 0;
    auto lane_of = [&](const inference::ModelInferRequest& r) -> size_t {
      auto it = r.parameters().find("sequence_id");
      if (it == r.parameters().end()) return next_lane++ % kLanes;
      const inference::InferParameter& p = it->second;
      size_t h = 0;
      if (p.has_int64_param()) h = std::hash<int64_t>()(p.int64_param());
      else if (p.has_uint64_param()) h = std::hash<uint64_t>()(p.uint64_param());
      else if (p.has_string_param()) h = std::hash<std::string>()(p.string_param());
      else return next_lane++ % kLanes;
      return h % kLanes;
    };
    std::vector<std::thread> workers;
    for (size_t l = 0; l < kLanes; ++l)
      workers.emplace_back([&, l] {
        std::unique_lock<std::mutex> lock(mu);
        while (true) {
          lane_cv[l].wait(lock, [&] { return stop || !lanes[l].empty() || read_done; });
          if (stop || (lanes[l].empty() && read_done)) return;
          std::shared_ptr<Item> item = lanes[l].front();
          lanes[l].pop_front();
          lock.unlock();
          answer(*item);
          lock.lock();
          item->done = true;
          if (!order.empty() && order.front() == item) writer_cv.notify_one();
        }
      });
    std::thread reader([&] {
      while (true) {
        auto item = std::make_shared<Item>();
        if (!stream->Read(&item->request)) break;
        item->t0 = Clock::now();
        std::unique_lock<std::mutex> lock(mu);
        reader_cv.wait(lock, [&] { return stop || order.size() < kMaxPending; });
        if (stop) break;
        order.push_back(item);
        const size_t lane = lane_of(item->request);
        lanes[lane].push_back(item);
        lane_cv[lane].notify_one();
      }
      std::lock_guard<std::mutex> lock(mu);
      read_done = true;
      wake_all();
    });
    {
      std::unique_lock<std::mutex> lock(mu);
      while (true) {
        writer_cv.wait(lock, [&] { return (!order.empty() && order.front()->done) ||
                                          (read_done && order.empty()); });
        if (order.empty()) break;
        std::shared_ptr<Item> item = order.front();
        order.pop_front();
        reader_cv.notify_one();  // room for the reader
        lock.unlock();
        const bool written = stream->Write(item->response);
        lock.lock();
        if (!written) {
          stop = true;
          wake_all();
          ctx->TryCancel();  // unblocks the reader's Read
          break;
        }
      }
    }
    reader.join();
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = stop || read_done;
      wake_all();
    }
    for (auto& t : workers) t.join();
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    return grpc::Status::OK;
  }

 private:
  static constexpr size_t kLanes = 8, kMaxPending = 512;

  // One stream request's response: the inference answer, or its error (the stream stays open).
  template <typename Item>
  void answer(Item& item) {
    auto& response = item.response;
    const auto& request = item.request;
    if (Error e = infer(request, *response.mutable_infer_response(), item.t0); !e.ok()) {
      response.set_error_message(e.message);
      auto* r = response.mutable_infer_response();
      r->Clear();
      r->set_model_name(request.model_name());
      r->set_model_version(request.model_version());
      r->set_id(request.id());
    }
  }

  // OK, or UNAUTHENTICATED (counted in the metrics) when a token is set and the call's
  // "authorization" metadata does not carry it.
  grpc::Status authorize(grpc::ServerContext* ctx, Clock::time_point t0) {
    if (token_.empty()) return grpc::Status::OK;
    const auto& metadata = ctx->client_metadata();
    std::string_view value;
    if (auto it = metadata.find("authorization"); it != metadata.end()) {
      value = std::string_view(it->second.data(), it->second.size());
    }
    const Error e = check_bearer(value, token_);
    if (e.ok()) return grpc::Status::OK;
    core_.metrics().request(kProtocol, "", Code::kUnauthenticated, seconds_since(t0));
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        e.message.empty() ? "missing or wrong bearer token" : e.message);
  }

  // `name` when the core serves it, else "" (the metrics label only known models).
  std::string known_model(const std::string& name) const {
    const std::vector<std::string> names = core_.model_names();
    return std::find(names.begin(), names.end(), name) != names.end() ? name : std::string();
  }

  Error infer(const inference::ModelInferRequest& in, inference::ModelInferResponse& out,
              Clock::time_point t0) {
    InferRequest request;
    if (Error e = from_proto(in, request); !e.ok()) {
      core_.metrics().request(kProtocol, known_model(in.model_name()), e.code, seconds_since(t0));
      return e;
    }
    InferResponse response;
    if (Error e = core_.infer(request, response, kProtocol); !e.ok()) return e;
    to_proto(response, out);
    return Error::none();
  }

  Core& core_;
  const std::string token_;
};

std::unique_ptr<GrpcServer> GrpcServer::start(Core& core, const FrontendOptions& options,
                                              std::string& error) {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    if (options.tls_cert.empty() || options.tls_key.empty()) {
      error = "TLS needs both a certificate and a key file";
      return nullptr;
    }
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    if (!read_file(options.tls_cert, pair.cert_chain)) {
      error = "cannot read the TLS certificate '" + options.tls_cert + "'";
      return nullptr;
    }
    if (!read_file(options.tls_key, pair.private_key)) {
      error = "cannot read the TLS key '" + options.tls_key + "'";
      return nullptr;
    }
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back(std::move(pair));
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }

  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->service_ = std::make_unique<Service>(core, options.bearer_token);
  const std::string address = listen_address(options.host, options.port);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::clamp<int64_t>(options.max_request_bytes, 0, INT_MAX)));
  // gRPC sets SO_REUSEPORT by default: a second server on a busy port would share it silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Bounds the request threads; calls beyond them are answered RESOURCE_EXHAUSTED.
  grpc::ResourceQuota quota("stgcn-serve-grpc");
  quota.SetMaxThreads(std::max(options.threads, 8) + kExtraThreads);
  builder.SetResourceQuota(quota);

  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    error = "cannot serve gRPC on " + address +
            (!options.tls_cert.empty()
                 ? " (address in use, or the TLS certificate / key is not valid PEM)"
                 : " (address in use or not available)");
    return nullptr;
  }
  return server;
}

GrpcServer::~GrpcServer() { shutdown(0); }

void GrpcServer::shutdown(double deadline_s) {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (stopped_ || server_ == nullptr) return;
  stopped_ = true;
  const std::chrono::duration<double> grace(deadline_s > 0 ? std::min(deadline_s, 1e6) : 0.0);
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(grace));
  server_->Wait();
}

}  // namespace stgcn::serve
