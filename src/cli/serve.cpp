// `ecocompute serve`: the dashboard live from study databases (read-only), over HTTP.
#include <cstdio>

#include <fmt/format.h>

#include "cli/command.h"
#include "report/server.h"

namespace {

void setup(CLI::App& sub) {
  auto a = std::make_shared<eco::report::ServeOptions>();
  auto dbs = std::make_shared<std::vector<std::string>>();
  sub.add_option("--db", *dbs, "Study database (repeat for several studies)")->required();
  sub.add_option("--port", a->port, "TCP port (0 picks a free one)")->capture_default_str();
  sub.add_option("--host", a->host,
                 "Address to listen on; the default is this machine only (the dashboard has no "
                 "authentication)")
      ->capture_default_str();
  sub.callback([a, dbs] {
    a->databases.assign(dbs->begin(), dbs->end());
    eco::report::DashboardServer server(*a);
    const int port = server.bind();
    if (a->host != "127.0.0.1" && a->host != "localhost" && a->host != "::1")
      fmt::print(stderr,
                 "serve: warning: listening on {}: anyone who can reach this address can read "
                 "the studies\n",
                 a->host);
    fmt::print("serve: dashboard at http://{}:{}/ (read-only; Ctrl-C to stop)\n",
               a->host.find(':') != std::string::npos ? "[" + a->host + "]" : a->host, port);
    std::fflush(stdout);
    server.run();
  });
}

}  // namespace

ECO_COMMAND("serve", "Serve the interactive dashboard live from study databases (read-only)",
            setup);
