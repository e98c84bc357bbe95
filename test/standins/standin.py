#!/usr/bin/env python3
"""Test stand-in for a Kubernetes server binary or flanneld (which cannot be downloaded in the lab).

NOT Kubernetes. It behaves like the real binary only where a provisioner can observe it from the
outside: `--version`, rejecting flags that upstream removed (exit 1, `Error: unknown flag: --x`),
running as a daemon until SIGTERM (exit 0), and the health endpoints on their usual ports
(kube-apiserver over HTTPS with client-certificate auth, scheduler/controller-manager over HTTPS,
kubelet/kube-proxy over HTTP). Flags it does not know are accepted and ignored: the real binaries
know hundreds; only the removed ones are worth catching.

Which component it is: COMPONENT below (the lab's bundle builder bakes it in), else the file name
(`standin-kube-apiserver` or `kube-apiserver`). Runs on python3 >= 3.7 with the standard library.
"""
import http.server
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

COMPONENT = None  # baked in by test/lab/bundle.ts
VERSION = "v1.33.1"  # baked in by test/lab/bundle.ts (kube components)
FLANNEL_VERSION = "v0.26.7"  # baked in by test/lab/bundle.ts (flanneld)

COMPONENTS = (
    "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl", "flanneld",
)

# Flags upstream removed: name -> (Kubernetes minor that removed it, what replaced it). A stand-in
# rejects a flag when its own VERSION is at or past that minor, as the real binary of that version would.
# Versions marked "<=" are "removed by then at the latest" (the exact release was not pinned down).
REMOVED = {
    "kube-apiserver": {
        "insecure-bind-address": (24, "insecure serving is gone; use --bind-address with --secure-port"),
        "insecure-port": (24, "insecure serving is gone; use --secure-port"),
        "kubelet-https": (22, "connections to kubelets are always HTTPS"),
        "enable-swagger-ui": (14, "swagger 1.2 was removed; the OpenAPI endpoints replace it"),
        "basic-auth-file": (19, "basic auth was removed; use client certificates or tokens"),
        "experimental-encryption-provider-config": (14, "use --encryption-provider-config"),
    },
    "kubelet": {
        "allow-privileged": (15, "privileged pods are governed by admission, not the kubelet"),
        "network-plugin": (24, "dockershim was removed; CNI is configured in the container runtime"),
        "cni-bin-dir": (24, "configure CNI paths in the container runtime"),
        "cni-conf-dir": (24, "configure CNI paths in the container runtime"),
        "cni-cache-dir": (24, "configure CNI paths in the container runtime"),
        "network-plugin-mtu": (24, "dockershim was removed"),
        "docker-endpoint": (24, "dockershim was removed; use --container-runtime-endpoint"),
        "container-runtime": (27, "only remote runtimes remain; use --container-runtime-endpoint"),
        "api-servers": (8, "<= 1.8; use --kubeconfig"),
        "experimental-bootstrap-kubeconfig": (11, "<= 1.11; use --bootstrap-kubeconfig"),
        "require-kubeconfig": (10, "<= 1.10; --kubeconfig alone is enough"),
        "cadvisor-port": (12, "the cAdvisor web UI was removed"),
    },
    "kube-scheduler": {
        "address": (24, "<= 1.24; insecure serving is gone, use --bind-address"),
        "port": (24, "<= 1.24; insecure serving is gone, use --secure-port"),
    },
    "kube-controller-manager": {
        "address": (24, "<= 1.24; insecure serving is gone, use --bind-address"),
        "port": (24, "<= 1.24; insecure serving is gone, use --secure-port"),
    },
}

# Deprecated but STILL PARSED by the real binaries (they print this warning and carry on), so the
# stand-in must not reject them: e.g. kube-apiserver still accepts --admission-control (deprecated
# in 1.10, hidden from --help, never removed as of 1.33).
DEPRECATED = {
    "kube-apiserver": {
        "admission-control": "Use --enable-admission-plugins or --disable-admission-plugins instead. Will be removed in a future version.",
    },
}

BOOLEAN_FLAGS = {"version", "help", "h", "anonymous-auth", "logtostderr", "v"}


def component_name():
    if COMPONENT:
        return COMPONENT
    name = os.path.basename(sys.argv[0])
    name = name[len("standin-"):] if name.startswith("standin-") else name
    name = re.sub(r"\.py$", "", name)
    if name not in COMPONENTS:
        sys.exit("standin: cannot tell which component I am from %r; name me standin-<component>" % sys.argv[0])
    return name


def parse_flags(argv):
    """pflag style: --a=b, --a b, -a=b; a bare --flag (or one followed by another flag) is 'true'."""
    flags, args, i = {}, [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            args.extend(argv[i + 1:])
            break
        if arg.startswith("-") and len(arg) > 1:
            name = arg.lstrip("-")
            if "=" in name:
                name, value = name.split("=", 1)
            elif name not in BOOLEAN_FLAGS and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                value = argv[i + 1]
                i += 1
            else:
                value = "true"
            flags[name] = value
        else:
            args.append(arg)
        i += 1
    return flags, args


def minor(version):
    m = re.match(r"v?(\d+)\.(\d+)", version)
    return int(m.group(2)) if m else 0


def check_flags(component, flags):
    for name in flags:
        removed = REMOVED.get(component, {}).get(name)
        if removed and component != "flanneld" and minor(VERSION) >= removed[0]:
            sys.stderr.write("Error: unknown flag: --%s\n" % name)
            sys.stderr.write("(standin: removed upstream in 1.%d: %s)\n" % removed)
            sys.exit(1)
        note = DEPRECATED.get(component, {}).get(name)
        if note:
            sys.stderr.write("Flag --%s has been deprecated, %s\n" % (name, note))


def log(msg):
    sys.stderr.write("standin-%s: %s\n" % (component_name(), msg))
    sys.stderr.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    """Health endpoints answer 'ok'; the apiserver stand-in also has /version and refuses the rest."""

    server_version = "standin"
    sys_version = ""

    def log_message(self, fmt, *args):  # keep the journal quiet: probes poll often
        pass

    def reply(self, code, body, ctype="text/plain; charset=utf-8"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def client_user(self):
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            return None
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return "unknown"

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in ("/healthz", "/livez"):
            return self.reply(200, "ok")
        if path == "/readyz":
            problem = self.server.readiness()
            return self.reply(500, "[-]etcd failed: %s\nreadyz check failed\n" % problem) if problem else self.reply(200, "ok")
        if self.server.component == "kube-apiserver":
            if path == "/version":
                m = re.match(r"v(\d+)\.(\d+)", VERSION)
                body = {"major": m.group(1), "minor": m.group(2), "gitVersion": VERSION, "platform": "linux/amd64", "standin": True}
                return self.reply(200, json.dumps(body), "application/json")
            user = self.client_user()
            if user is None:
                return self.reply(403, status_json(403, 'forbidden: User "system:anonymous" cannot get path "%s"' % path), "application/json")
            return self.reply(404, status_json(404, "the stand-in serves only health and version endpoints"), "application/json")
        return self.reply(404, "404 page not found\n")


def status_json(code, message):
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, component, etcd_servers):
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.address_family = family
        super().__init__(addr, Handler)
        self.component = component
        self.etcd_servers = etcd_servers

    def handle_error(self, request, client_address):
        log("request from %s failed: %s" % (client_address[0], sys.exc_info()[1]))

    def readiness(self):
        """An apiserver is not ready without etcd: here that means no etcd endpoint accepts TCP."""
        if not self.etcd_servers:
            return None
        for url in self.etcd_servers:
            m = re.match(r"\w+://\[?([^\]/]+?)\]?:(\d+)", url)
            if not m:
                continue
            try:
                socket.create_connection((m.group(1), int(m.group(2))), timeout=1).close()
                return None
            except OSError:
                continue
        return "no etcd server reachable of %s" % ",".join(self.etcd_servers)


def self_signed(component):
    """Like the real scheduler/controller-manager without --tls-cert-file: a throwaway cert (openssl is on the hosts)."""
    tmp = tempfile.mkdtemp(prefix="standin-%s-" % component)
    cert, key = os.path.join(tmp, "serving.crt"), os.path.join(tmp, "serving.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365", "-subj", "/CN=%s@standin" % component,
         "-keyout", key, "-out", cert],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return cert, key


def split_host_port(value, default_host, default_port):
    host, _, port = value.rpartition(":")
    return (host.strip("[]") or default_host, int(port or default_port)) if ":" in value else (value or default_host, default_port)


def config_value(flags, key):
    """A top-level scalar from the --config YAML (KubeletConfiguration / KubeProxyConfiguration)."""
    path = flags.get("config")
    if not path:
        return None
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"^%s:\s*['\"]?([^'\"#\s]+)" % re.escape(key), line)
                if m:
                    return m.group(1)
    except OSError as e:
        sys.exit("standin: cannot read --config %s: %s" % (path, e))
    return None


def listener(component, flags):
    """(host, port, tls context or None) for the component's health endpoint, None if it has none."""
    if component == "kube-apiserver":
        cert, key = flags.get("tls-cert-file"), flags.get("tls-private-key-file")
        if not cert or not key:
            sys.exit("Error: --tls-cert-file and --tls-private-key-file are required by this stand-in")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if flags.get("client-ca-file"):
            ctx.load_verify_locations(flags["client-ca-file"])
            ctx.verify_mode = ssl.CERT_OPTIONAL  # anonymous requests still reach /healthz
        return flags.get("bind-address", "0.0.0.0"), int(flags.get("secure-port", 6443)), ctx
    if component in ("kube-scheduler", "kube-controller-manager"):
        cert, key = flags.get("tls-cert-file"), flags.get("tls-private-key-file")
        if not cert or not key:
            cert, key = self_signed(component)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        default_port = 10259 if component == "kube-scheduler" else 10257
        return flags.get("bind-address", "0.0.0.0"), int(flags.get("secure-port", default_port)), ctx
    if component == "kubelet":
        host = flags.get("healthz-bind-address") or config_value(flags, "healthzBindAddress") or "127.0.0.1"
        port = int(flags.get("healthz-port") or config_value(flags, "healthzPort") or 10248)
        return host, port, None
    if component == "kube-proxy":
        value = flags.get("healthz-bind-address") or config_value(flags, "healthzBindAddress") or "0.0.0.0:10256"
        host, port = split_host_port(value, "0.0.0.0", 10256)
        return host, port, None
    return None


def kubectl(flags, args):
    if args[:1] == ["version"]:
        if flags.get("output") in ("json", "o") or flags.get("o") == "json":
            print(json.dumps({"clientVersion": {"gitVersion": VERSION}}))
        else:
            print("Client Version: %s" % VERSION)
        return 0
    sys.stderr.write("standin-kubectl: only 'kubectl version' is implemented (test stand-in, no cluster behind it)\n")
    return 1


def main():
    component = component_name()
    flags, args = parse_flags(sys.argv[1:])
    if "version" in flags:
        print(FLANNEL_VERSION if component == "flanneld" else "Kubernetes %s" % VERSION)
        return 0
    check_flags(component, flags)
    if component == "kubectl":
        return kubectl(flags, args)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    spec = listener(component, flags)
    if spec:
        host, port, ctx = spec
        etcd = [u for u in flags.get("etcd-servers", "").split(",") if u] if component == "kube-apiserver" else []
        try:
            server = Server((host, port), component, etcd)
        except OSError as e:
            log("cannot listen on %s:%d: %s" % (host, port, e))
            return 1
        if ctx:
            # Handshake in the handler thread, so one silent client cannot stall accept().
            server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        log("%s %s serving %s://%s:%d/healthz" % (component, VERSION, "https" if ctx else "http", host, port))
    else:
        log("%s running (no health endpoint)" % component)
    stop.wait()
    log("SIGTERM received, exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
