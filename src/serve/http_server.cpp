// The HTTP/REST frontend (see http_server.h) on Debian's cpp-httplib 0.11.4.
//
// Everything but the infer body is answered from the pre-routing handler, before httplib reads
// any request body: unknown routes, wrong methods, bad names, auth and the body limits are
// refused there (a refused body is left unread and the connection closed), and the GET routes
// are served there. Only POST .../infer reaches httplib's router, whose content-reader handler
// reads the body with a bounded receiver (0.11.4 bounds neither chunked bodies nor the
// gzip/deflate-decoded size itself).
#include "serve/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <fstream>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "serve/http_codec.h"

// Debian's libcpp-httplib.so is compiled with CPPHTTPLIB_OPENSSL_SUPPORT (plus ZLIB / BROTLI);
// httplib::Request's layout depends on it, so every user of the shared library must define it.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#error "compile with cpp-httplib's pkg-config flags (-DCPPHTTPLIB_OPENSSL_SUPPORT ...)"
#endif

namespace stgcn::serve {
namespace {

using Clock = std::chrono::steady_clock;

constexpr time_t kReadTimeoutS = 30;
constexpr time_t kWriteTimeoutS = 30;
constexpr time_t kKeepAliveTimeoutS = 5;  // an idle keep-alive connection holds a pool thread
constexpr size_t kKeepAliveMaxRequests = 1000;
constexpr size_t kMaxNameBytes = 256;

enum class RouteKind {
  kNone,
  kServerMetadata,
  kLive,
  kReady,
  kMetrics,
  kModelMetadata,
  kModelReady,
  kModelConfig,
  kInfer
};

struct Route {
  RouteKind kind = RouteKind::kNone;
  std::string model, version;
  bool bad_name = false;  // the path has the route's shape but an invalid model / version
};

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}

// The KServe v2 routes; `path` is httplib's percent-decoded path (no query).
Route parse_route(std::string_view path) {
  Route r;
  if (path == "/v2")
    r.kind = RouteKind::kServerMetadata;
  else if (path == "/v2/health/live")
    r.kind = RouteKind::kLive;
  else if (path == "/v2/health/ready")
    r.kind = RouteKind::kReady;
  else if (path == "/metrics")
    r.kind = RouteKind::kMetrics;
  constexpr std::string_view kModels = "/v2/models/";
  if (r.kind != RouteKind::kNone || path.substr(0, kModels.size()) != kModels) return r;
  std::vector<std::string_view> parts;
  std::string_view rest = path.substr(kModels.size());
  for (size_t pos; (pos = rest.find('/')) != std::string_view::npos; rest.remove_prefix(pos + 1))
    parts.push_back(rest.substr(0, pos));
  parts.push_back(rest);
  size_t next = 1;
  if (parts.size() >= 3 && parts[1] == "versions") {
    r.version = parts[2];
    next = 3;
  }
  if (parts.size() > next + 1) return r;
  const std::string_view action = parts.size() == next ? "" : parts[next];
  if (action.empty() && parts.size() == next)
    r.kind = RouteKind::kModelMetadata;
  else if (action == "ready")
    r.kind = RouteKind::kModelReady;
  else if (action == "config")
    r.kind = RouteKind::kModelConfig;
  else if (action == "infer")
    r.kind = RouteKind::kInfer;
  else
    return r;
  r.model = parts[0];
  r.bad_name = !valid_name(r.model) || (next == 3 && !valid_name(r.version));
  return r;
}

bool body_method(const std::string& m) {  // the methods httplib reads a body for
  return m == "POST" || m == "PUT" || m == "PATCH" || m == "DELETE" || m == "PRI";
}

// A decimal header value (no sign, no spaces); nullopt when malformed or too large.
std::optional<size_t> parse_size(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  return v;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

void reply(httplib::Response& res, int status, std::string body,
           const char* type = "application/json") {
  res.status = status;
  res.body = std::move(body);
  if (!res.body.empty()) res.set_header("Content-Type", type);
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, error_json(message));
}

const char* status_text(int status) {
  switch (status) {
    case 400: return "bad request";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 408: return "request timeout";
    case 411: return "a Content-Length or chunked body is required";
    case 413: return "request too large";
    case 414: return "request URI too long";
    case 415: return "unsupported media type";
    case 416: return "range not satisfiable";
    case 500: return "internal server error";
    default: return "request failed";
  }
}

}  // namespace

struct HttpServer::Impl {
  Core& core;
  FrontendOptions options;
  std::unique_ptr<httplib::Server> server;
  std::thread listener;
  int port = 0;
  std::mutex stop_mu;
  bool stopped = false;

  Impl(Core& c, const FrontendOptions& o) : core(c), options(o) {}

  static double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }

  // The metrics label of a model named in a URL: "" unless it is served (bounded label set).
  std::string metric_model(const std::string& name) const {
    for (const auto& m : core.model_names())
      if (m == name) return name;
    return "";
  }

  void count_failure(const Route& route, Code code, Clock::time_point t0) {
    core.metrics().request("http", metric_model(route.model), code, since(t0));
  }

  // Refusals decided from the request line and headers alone. True when `res` holds the answer.
  bool reject_early(const httplib::Request& req, httplib::Response& res, const Route& route) {
    const auto t0 = Clock::now();
    const bool infer = route.kind == RouteKind::kInfer;
    const bool has_body = body_method(req.method);
    auto refuse = [&](int status, const std::string& message, bool count) {
      reply_error(res, status, message);
      if (has_body) res.set_header("Connection", "close");  // the body stays unread
      if (count)
        count_failure(route, status == 401 ? Code::kUnauthenticated : Code::kInvalidArgument, t0);
      return true;
    };
    if (route.kind == RouteKind::kNone)
      return refuse(404, "no route " + req.method + " " + req.path.substr(0, 200), false);
    if (infer ? req.method != "POST" : req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", infer ? "POST" : "GET, HEAD");
      return refuse(405, req.method + " is not allowed on " + req.path.substr(0, 200), false);
    }
    if (route.bad_name)
      return refuse(
          400, "model names and versions must be 1 to 256 bytes without control characters", infer);
    const bool open = route.kind == RouteKind::kLive || route.kind == RouteKind::kReady ||
                      route.kind == RouteKind::kMetrics;
    if (!open && !options.bearer_token.empty()) {
      const Error e = check_bearer(req.get_header_value("Authorization"), options.bearer_token);
      if (!e.ok()) {
        res.set_header("WWW-Authenticate", "Bearer");
        return refuse(401, e.message, true);
      }
    }
    if (!infer) return false;
    const std::string te = req.get_header_value("Transfer-Encoding");
    const bool chunked = iequals(te, "chunked");
    if (!te.empty() && !chunked)
      return refuse(400, "unsupported Transfer-Encoding '" + te.substr(0, 40) + "'", true);
    if (!chunked) {
      if (!req.has_header("Content-Length"))
        return refuse(411, "an infer request needs a Content-Length", true);
      const auto length = parse_size(req.get_header_value("Content-Length"));
      if (!length) return refuse(400, "invalid Content-Length", true);
      if (*length > static_cast<uint64_t>(options.max_request_bytes))
        return refuse(413,
                      "the request body is larger than " +
                          std::to_string(options.max_request_bytes) + " bytes",
                      true);
    }
    const std::string ce = req.get_header_value("Content-Encoding");
    if (!ce.empty() && ce != "identity" && ce != "gzip" && ce != "deflate")
      return refuse(
          400, "unsupported Content-Encoding '" + ce.substr(0, 40) + "' (identity, gzip, deflate)",
          true);
    if (req.has_header("Inference-Header-Content-Length") &&
        !parse_size(req.get_header_value("Inference-Header-Content-Length")))
      return refuse(400, "invalid Inference-Header-Content-Length", true);
    return false;
  }

  // The GET routes.
  void serve_get(const Route& route, httplib::Response& res) {
    switch (route.kind) {
      case RouteKind::kLive: reply(res, core.live() ? 200 : 503, ""); return;
      case RouteKind::kReady: reply(res, core.ready() ? 200 : 503, ""); return;
      case RouteKind::kMetrics:
        reply(res, 200, core.metrics().render(), "text/plain; version=0.0.4");
        return;
      case RouteKind::kServerMetadata:
        reply(res, 200, server_metadata_json(core.server_metadata()));
        return;
      case RouteKind::kModelReady: {
        const Error e = core.model_ready(route.model, route.version);
        if (e.ok())
          reply(res, 200, "");
        else
          reply_error(res, http_status(e.code), e.message);
        return;
      }
      case RouteKind::kModelMetadata: {
        ModelMetadata m;
        const Error e = core.model_metadata(route.model, route.version, m);
        if (e.ok())
          reply(res, 200, model_metadata_json(m));
        else
          reply_error(res, http_status(e.code), e.message);
        return;
      }
      case RouteKind::kModelConfig: {
        ModelConfig c;
        const Error e = core.model_config(route.model, route.version, c);
        if (e.ok())
          reply(res, 200, model_config_json(c));
        else
          reply_error(res, http_status(e.code), e.message);
        return;
      }
      case RouteKind::kNone:
      case RouteKind::kInfer: break;
    }
    reply_error(res, 404, "not found");
  }

  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) {
    const Route route = parse_route(req.path);
    if (reject_early(req, res, route)) return httplib::Server::HandlerResponse::Handled;
    if (route.kind == RouteKind::kInfer) return httplib::Server::HandlerResponse::Unhandled;
    serve_get(route, res);
    return httplib::Server::HandlerResponse::Handled;
  }

  void infer(const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader& read) {
    const auto t0 = Clock::now();
    const Route route = parse_route(req.path);  // pre_route checked it
    std::optional<size_t> header_length;
    if (req.has_header("Inference-Header-Content-Length"))
      header_length = parse_size(req.get_header_value("Inference-Header-Content-Length"));
    auto fail = [&](int status, Code code, const std::string& message) {
      reply_error(res, status, message);
      count_failure(route, code, t0);
    };

    const size_t limit = static_cast<size_t>(options.max_request_bytes);
    std::string body;
    if (auto length = parse_size(req.get_header_value("Content-Length"));
        length && *length <= limit)
      body.reserve(*length);
    bool too_large = false;
    const bool read_ok = read([&](const char* data, size_t n) {
      if (n > limit - body.size()) {
        too_large = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (!read_ok) {
      res.set_header("Connection", "close");  // the rest of the body is unread
      if (too_large)
        fail(
            413, Code::kInvalidArgument,
            "the request body is larger than " + std::to_string(limit) + " bytes (after decoding)");
      else
        fail(400, Code::kInvalidArgument, "the request body could not be read or decoded");
      return;
    }

    InferRequest request;
    if (Error e = parse_infer_request(body, header_length, request); !e.ok()) {
      fail(http_status(e.code), e.code, e.message);
      return;
    }
    std::string().swap(body);  // the inputs hold their own copies
    request.model = route.model;
    request.version = route.version;
    InferResponse response;
    if (Error e = core.infer(request, response, "http"); !e.ok()) {  // counted by the core
      reply_error(res, http_status(e.code), e.message);
      return;
    }
    size_t json_length = 0;
    std::string out = encode_infer_response(response, request, false, json_length);
    if (json_length) {
      res.set_header("Inference-Header-Content-Length", std::to_string(json_length));
      reply(res, 200, std::move(out), "application/octet-stream");
    } else {
      reply(res, 200, std::move(out));
    }
  }

  // Every answer >= 400. Adds error bodies for the statuses httplib produces itself (bad request
  // line, 414, ...). "Handled" also makes httplib set Content-Length on the answers it writes
  // without routing (the Expect: 100-continue refusals), so the client need not wait for close.
  httplib::Server::HandlerResponse on_error(const httplib::Request& req, httplib::Response& res) {
    const auto kind = parse_route(req.path).kind;
    if (res.body.empty() && kind != RouteKind::kLive && kind != RouteKind::kReady)
      reply_error(res, res.status, status_text(res.status));
    return res.body.empty() ? httplib::Server::HandlerResponse::Unhandled
                            : httplib::Server::HandlerResponse::Handled;
  }

  void configure() {
    httplib::Server& s = *server;
    const size_t threads = static_cast<size_t>(std::max(1, options.threads));
    s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    s.set_payload_max_length(static_cast<size_t>(options.max_request_bytes));
    s.set_read_timeout(kReadTimeoutS);
    s.set_write_timeout(kWriteTimeoutS);
    s.set_keep_alive_timeout(kKeepAliveTimeoutS);
    s.set_keep_alive_max_count(kKeepAliveMaxRequests);
    s.set_tcp_nodelay(true);
    // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a second server
    // bind the same port silently.
    s.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });

    s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      try {
        return pre_route(req, res);
      } catch (const std::exception& e) {
        reply_error(res, 500, std::string("internal error: ") + e.what());
      } catch (...) {
        reply_error(res, 500, "internal error");
      }
      return httplib::Server::HandlerResponse::Handled;
    });
    // Refuse before the client sends the body when it asks first (Expect: 100-continue).
    s.set_expect_100_continue_handler([this](const httplib::Request& req, httplib::Response& res) {
      try {
        if (reject_early(req, res, parse_route(req.path))) return res.status;
      } catch (...) {
        reply_error(res, 500, "internal error");
        return 500;
      }
      return 100;
    });
    s.Post(R"(/v2/models/.+/infer)", [this](const httplib::Request& req, httplib::Response& res,
                                            const httplib::ContentReader& read) {
      try {
        infer(req, res, read);
      } catch (const std::exception& e) {
        reply_error(res, 500, std::string("internal error: ") + e.what());
      } catch (...) {
        reply_error(res, 500, "internal error");
      }
    });
    s.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          try {
            return on_error(req, res);
          } catch (...) {
            return httplib::Server::HandlerResponse::Unhandled;
          }
        }));
    s.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                               std::exception_ptr) { reply_error(res, 500, "internal error"); });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { shutdown(); }

int HttpServer::port() const { return impl_->port; }

std::unique_ptr<HttpServer> HttpServer::start(Core& core, const FrontendOptions& options,
                                              std::string& error) {
  try {
    auto impl = std::make_unique<Impl>(core, options);
    const bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
    if (tls) {
      if (options.tls_cert.empty() || options.tls_key.empty()) {
        error = "TLS needs both a certificate and a key";
        return nullptr;
      }
      for (const std::string* path : {&options.tls_cert, &options.tls_key})
        if (!std::ifstream(*path)) {
          error = "cannot read the TLS file " + *path;
          return nullptr;
        }
      auto ssl =
          std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
      if (!ssl->is_valid()) {
        error = "cannot load the TLS certificate " + options.tls_cert + " with the key " +
                options.tls_key + " (PEM files, the key matching the certificate)";
        return nullptr;
      }
      impl->server = std::move(ssl);
    } else {
      impl->server = std::make_unique<httplib::Server>();
    }
    impl->configure();

    errno = 0;
    if (options.port == 0) {
      impl->port = impl->server->bind_to_any_port(options.host);
    } else {
      impl->port = impl->server->bind_to_port(options.host, options.port) ? options.port : -1;
    }
    if (impl->port <= 0) {
      const int err = errno;
      error = "cannot listen on " + options.host + ":" + std::to_string(options.port) +
              (err ? std::string(" (") + std::strerror(err) + ")" : std::string());
      return nullptr;
    }

    httplib::Server* server = impl->server.get();
    impl->listener = std::thread([server] { server->listen_after_bind(); });
    // stop() only acts on a running server: wait until the accept loop has started.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!server->is_running() && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::unique_ptr<HttpServer> out(new HttpServer(std::move(impl)));
    if (!server->is_running()) {
      out->shutdown();
      error = "the HTTP listener did not start";
      return nullptr;
    }
    return out;
  } catch (const std::exception& e) {
    error = std::string("cannot start the HTTP server: ") + e.what();
    return nullptr;
  }
}

void HttpServer::shutdown() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->server) impl_->server->stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

}  // namespace stgcn::serve
