#!/usr/bin/env python3
"""Test stand-in for the Kubernetes binaries and flanneld, which cannot be downloaded in the lab.

NOT Kubernetes. One file plays kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
kube-proxy, kubectl or flanneld (COMPONENT below, baked in by test/lab/bundle.ts, else the file name
`standin-<component>`). It reads the flags and files the real binaries read and refuses what they
refuse, so that a provisioner tested against it fails where it would fail against the real ones:
removed flags and admission plugins, missing or mismatched certificates, identities that Node/RBAC
authorization rejects, a container runtime without its CRI plugin, cgroup v1 from 1.35 on, a flannel
network config missing from etcd. State lives in the lab's real etcd (over gRPC and TLS with the
certificates given, so etcd's authentication sees each component as its certificate's CN), so etcdctl
sees what the API server stored.

What it does not do: run pods, program iptables, create flannel's VXLAN device, watch. The contract it
implements is test/standins/README.md. Python 3.7+ standard library, plus python3-yaml for YAML,
python3-grpcio for etcd and python3-nacl for the API server's secretbox encryption at rest.
"""
import atexit
import base64
import datetime
import hashlib
import http.client
import http.server
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

COMPONENT = None  # baked in by test/lab/bundle.ts
VERSION = "v1.37.1"  # baked in by test/lab/bundle.ts (kube components)
FLANNEL_VERSION = "v0.28.9"  # baked in by test/lab/bundle.ts (flanneld)

COMPONENTS = (
    "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl", "flanneld",
)

# ---------------------------------------------------------------------------------------------------
# Upstream facts: the flags each version removed, and those it deprecated. test/lab/bundle.ts bakes both
# tables in from src/upstream/kube-flags.ts, kubestrap's own record of them: {component: {flag: [minor,
# why]}}, the flag without its dashes. A stand-in refuses a removed flag when its own VERSION is at or
# past the minor that removed it, as the real binary of that version would, and warns about a deprecated
# one from the minor that deprecated it. Run from the repository (test/standins/standin-<component>),
# without baked tables, it refuses and warns about nothing.
# ---------------------------------------------------------------------------------------------------

REMOVED = {}  # baked in by test/lab/bundle.ts
DEPRECATED = {}  # baked in by test/lab/bundle.ts

# Admission plugins: removed ones -> the minor that removed them; the rest are today's plugins. Any other
# name is refused as upstream does ("plugin ... is unknown").
REMOVED_ADMISSION_PLUGINS = {
    "Initializers": 14, "PodPreset": 20, "DenyEscalatingExec": 21, "DenyExecOnPrivileged": 21, "PodSecurityPolicy": 25,
    "SecurityContextDeny": 30, "PersistentVolumeLabel": 31,
}
ADMISSION_PLUGINS = {
    "AlwaysAdmit", "AlwaysDeny", "AlwaysPullImages", "CertificateApproval", "CertificateSigning",
    "CertificateSubjectRestriction", "ClusterTrustBundleAttest", "DefaultIngressClass", "DefaultStorageClass",
    "DefaultTolerationSeconds", "DenyServiceExternalIPs", "EventRateLimit", "ExtendedResourceToleration",
    "ImagePolicyWebhook", "LimitPodHardAntiAffinityTopology", "LimitRanger", "MutatingAdmissionPolicy",
    "MutatingAdmissionWebhook", "NamespaceAutoProvision", "NamespaceExists", "NamespaceLifecycle", "NodeRestriction",
    "OwnerReferencesPermissionEnforcement", "PersistentVolumeClaimResize", "PodNodeSelector", "PodSecurity",
    "PodTolerationRestriction", "PodTopologyLabels", "Priority", "ResourceQuota", "RuntimeClass", "ServiceAccount",
    "StorageObjectInUseProtection", "TaintNodesByCondition", "ValidatingAdmissionPolicy", "ValidatingAdmissionWebhook",
}
DEFAULT_ADMISSION_PLUGINS = {
    "NamespaceLifecycle", "LimitRanger", "ServiceAccount", "TaintNodesByCondition", "PodSecurity", "Priority",
    "DefaultTolerationSeconds", "DefaultStorageClass", "StorageObjectInUseProtection", "PersistentVolumeClaimResize",
    "RuntimeClass", "CertificateApproval", "CertificateSigning", "ClusterTrustBundleAttest", "CertificateSubjectRestriction",
    "DefaultIngressClass", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy", "ValidatingAdmissionWebhook", "ResourceQuota",
}

# Flags that take no value: `--flag` alone means true, so `--flag x` leaves x as an argument, as pflag does.
BOOL_FLAGS = {
    "version", "help", "h", "anonymous-auth", "allow-privileged", "enable-bootstrap-token-auth", "enable-aggregator-routing",
    "profiling", "contention-profiling", "enable-priority-and-fairness", "enable-garbage-collector", "leader-elect",
    "allocate-node-cidrs", "use-service-account-credentials", "configure-cloud-routes", "kube-subnet-mgr", "ip-masq",
    "register-node", "fail-swap-on", "rotate-certificates", "server-tls-bootstrap", "cleanup", "masquerade-all",
    "overwrite", "client", "all-namespaces", "A", "ignore-not-found", "show-labels", "no-headers", "insecure-skip-tls-verify",
    "watch", "w", "kubelet-https", "logtostderr", "alsologtostderr", "one-output", "skip-headers", "skip-log-headers",
    "add-dir-header", "experimental-check-node-capabilities-before-mount", "require-kubeconfig", "keep-terminated-pod-volumes",
    "register-schedulable", "enable-taint-manager", "repair-malformed-updates", "enable-swagger-ui", "cleanup-ipvs",
    "horizontal-pod-autoscaler-use-rest-clients", "use-legacy-policy-config", "volume-host-allow-local-loopback",
}
KUBECTL_SHORT = {"o": "output", "n": "namespace", "f": "filename", "A": "all-namespaces", "l": "selector", "w": "watch"}

DEFAULT_CRI_ENDPOINT = "unix:///run/containerd/containerd.sock"
RBAC_GROUP = "rbac.authorization.k8s.io"


def minor(version):
    m = re.match(r"v?(\d+)\.(\d+)", version)
    return int(m.group(2)) if m else 0


# ---------------------------------------------------------------------------------------------------
# Process basics: component name, flags, logging, fatal errors, files
# ---------------------------------------------------------------------------------------------------

def component_name():
    if COMPONENT:
        return COMPONENT
    name = os.path.basename(sys.argv[0])
    name = name[len("standin-"):] if name.startswith("standin-") else name
    name = re.sub(r"\.py$", "", name)
    if name not in COMPONENTS:
        sys.exit("standin: cannot tell which component I am from %r; name me standin-<component>" % sys.argv[0])
    return name


class Flags:
    """pflag-style flags: --a=b, --a b, -a=b; repeated flags keep every value (slice flags append)."""

    def __init__(self, argv, short=None):
        self.values, self.args, short = {}, [], short or {}
        i = 0
        while i < len(argv):
            arg = argv[i]
            if arg == "--":
                self.args.extend(argv[i + 1:])
                break
            if arg.startswith("-") and len(arg) > 1 and arg != "-":
                name, value = arg.lstrip("-"), None
                if "=" in name:
                    name, value = name.split("=", 1)
                elif not arg.startswith("--") and len(name) > 1 and name[0] in short and name not in BOOL_FLAGS:
                    name, value = name[0], name[1:]  # kubectl -ojson
                if not arg.startswith("--"):
                    name = short.get(name, name)
                if value is None:
                    if name in BOOL_FLAGS or i + 1 >= len(argv) or (argv[i + 1].startswith("-") and argv[i + 1] != "-"):
                        value = "true"
                    else:
                        value = argv[i + 1]
                        i += 1
                self.values.setdefault(name, []).append(value)
            else:
                self.args.append(arg)
            i += 1

    def __contains__(self, name):
        return name in self.values

    def get(self, name, default=None):
        return self.values[name][-1] if name in self.values else default

    def all(self, name):
        """Every value of a repeated or comma-separated slice flag."""
        return [v for value in self.values.get(name, []) for v in value.split(",") if v]

    def bool(self, name, default=False):
        value = self.get(name)
        return default if value is None else value.lower() in ("true", "1", "t")


def q(value):
    """A value in a klog structured line: quoted, inner quotes escaped."""
    return json.dumps(str(value))


def log(msg, level="I"):
    now = datetime.datetime.now()
    sys.stderr.write("%s%s %s %7d standin.py] %s\n" % (level, now.strftime("%m%d"), now.strftime("%H:%M:%S.%f"), os.getpid(), msg))
    sys.stderr.flush()


class Fatal(Exception):
    """A start-up failure: printed as `Error: <message>` with exit status 1, as the real binaries do."""


def fatal(msg):
    raise Fatal(msg)


def go_strerror(e):
    return (e.strerror or str(e))[0].lower() + (e.strerror or str(e))[1:]


def read_file(path, what=None):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        fatal("%sopen %s: %s" % (what + ": " if what else "", path, go_strerror(e)))


def load_yaml(text):
    try:
        import yaml
    except ImportError:
        return json.loads(text)  # without python3-yaml, JSON (a subset of YAML) still works
    return yaml.safe_load(text)


def load_yaml_all(text):
    try:
        import yaml
    except ImportError:
        return [json.loads(text)]
    return [d for d in yaml.safe_load_all(text) if d is not None]


def dump_yaml(obj):
    import yaml
    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=True)


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value):
    if not value:
        return 0.0
    value = re.sub(r"\.(\d+)Z$", lambda m: "." + (m.group(1) + "000000")[:6] + "Z", value)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in value else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.datetime.strptime(value, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()


def go_duration(value, default):
    """Seconds in a Go duration such as 30s, 5m0s, 1h; a bare number is seconds."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        return float(value)
    total, found = 0.0, False
    for number, unit in re.findall(r"([\d.]+)(ms|s|m|h)", str(value)):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
        found = True
    return total if found else float(value)


def write_atomic(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".standin-")
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def dig(obj, *keys, default=None):
    for key in keys:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


# ---------------------------------------------------------------------------------------------------
# TLS: contexts from files or embedded data, and errors worded as Go's crypto/tls and net report them
# ---------------------------------------------------------------------------------------------------

def check_key_pair(cert, key, what=""):
    """Loads a certificate and its key as the Go binaries do at start-up, with their error wording."""
    read_file(cert)
    read_file(key)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key)
    except ssl.SSLError as e:
        if "KEY_VALUES_MISMATCH" in str(e) or "key values mismatch" in str(e):
            fatal("%stls: private key does not match public key" % (what + ": " if what else ""))
        fatal("%stls: failed to find any PEM data in certificate or key input (%s)" % (what + ": " if what else "", e))


def private_tempdir():
    """A 0700 directory in memory when possible, removed when the process exits."""
    path = tempfile.mkdtemp(prefix="standin-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    atexit.register(shutil.rmtree, path, True)
    return path


def client_context(ca_file=None, ca_data=None, cert_file=None, key_file=None, cert_data=None, key_data=None, insecure=False):
    """A TLS client context that verifies the server's chain and its name or IP, as Go's client does."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_data:
        ctx.load_verify_locations(cadata=ca_data.decode() if isinstance(ca_data, bytes) else ca_data)
    elif ca_file:
        read_file(ca_file)
        ctx.load_verify_locations(ca_file)
    else:
        ctx.load_default_certs()
    if cert_data and key_data:  # the ssl module loads key pairs from files only
        tmp = private_tempdir()
        try:
            cert_file, key_file = os.path.join(tmp, "c"), os.path.join(tmp, "k")
            with open(cert_file, "wb") as f:
                f.write(cert_data)
            with open(key_file, "wb") as f:
                f.write(key_data)
            load_client_pair(ctx, cert_file, key_file)
        finally:
            shutil.rmtree(tmp, True)
    elif cert_file and key_file:
        read_file(cert_file)
        read_file(key_file)
        load_client_pair(ctx, cert_file, key_file)
    return ctx


def load_client_pair(ctx, cert_file, key_file):
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as e:
        fatal("tls: private key does not match public key" if "KEY_VALUES_MISMATCH" in str(e) else "tls: %s" % e)


def cert_names(der):
    """(IP SANs, DNS SANs) of a DER certificate, read with openssl (the stdlib cannot parse DER)."""
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-ext", "subjectAltName"], input=der,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
    ips = re.findall(r"IP Address:([0-9A-Fa-f:.]+)", out)
    dns = re.findall(r"DNS:([^,\s]+)", out)
    return ips, dns


def peer_der(host, port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname=host) as s:
            return s.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None


def hostname_error(host, port):
    der = peer_der(host, port)
    ips, dns = cert_names(der) if der else ([], [])
    if is_ip(host):
        if not ips:
            return "x509: cannot validate certificate for %s because it doesn't contain any IP SANs" % host
        return "x509: certificate is valid for %s, not %s" % (", ".join(ips), host)
    if not dns:
        return "x509: certificate is not valid for any names, but wanted to match %s" % host
    return "x509: certificate is valid for %s, not %s" % (", ".join(dns), host)


TLS_ALERTS = {
    "UNKNOWN_CA": "unknown certificate authority", "BAD_CERTIFICATE": "bad certificate",
    "CERTIFICATE_REQUIRED": "certificate required", "HANDSHAKE_FAILURE": "handshake failure",
    "CERTIFICATE_UNKNOWN": "certificate unknown", "UNSUPPORTED_CERTIFICATE": "unsupported certificate",
}


def go_net_error(e, host, port):
    """An exception from dialing host:port, worded as Go's net and crypto/tls errors read."""
    if isinstance(e, ssl.SSLCertVerificationError):
        if e.verify_code == 62 or "mismatch" in (e.verify_message or ""):
            return "tls: failed to verify certificate: " + hostname_error(host, port)
        if e.verify_code in (2, 18, 19, 20, 21, 27):
            return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        if e.verify_code in (9, 10):
            return "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
        if e.verify_code == 26:
            return "tls: failed to verify certificate: x509: certificate specifies an incompatible key usage"
        return "tls: failed to verify certificate: x509: %s" % e.verify_message
    if isinstance(e, ssl.SSLEOFError):
        return "EOF"
    if isinstance(e, ssl.SSLError):
        for key, text in TLS_ALERTS.items():
            if key in str(e.reason or e):
                return "remote error: tls: %s" % text
        return "tls: %s" % (e.reason or e)
    if isinstance(e, ConnectionRefusedError):
        return "dial tcp %s:%s: connect: connection refused" % (host, port)
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "dial tcp %s:%s: i/o timeout" % (host, port)
    if isinstance(e, ConnectionResetError):
        return "read tcp %s:%s: read: connection reset by peer" % (host, port)
    if isinstance(e, socket.gaierror):
        return "dial tcp: lookup %s: no such host" % host
    if isinstance(e, OSError) and e.strerror:
        return "dial tcp %s:%s: connect: %s" % (host, port, go_strerror(e))
    return str(e) or e.__class__.__name__


def is_ip(value):
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def split_url(url):
    u = urllib.parse.urlsplit(url)
    return u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80)


def https_request(ctx, host, port, method, path, body=None, headers=None, timeout=10):
    """(status, headers, body bytes); network and TLS failures raise NetError with Go's wording."""
    scheme = "https" if ctx else "http"
    try:
        conn = (http.client.HTTPSConnection(host, port, context=ctx, timeout=timeout) if ctx
                else http.client.HTTPConnection(host, port, timeout=timeout))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
        finally:
            conn.close()
    except (OSError, ssl.SSLError, http.client.HTTPException) as e:
        raise NetError('%s "%s://%s%s": %s' % (method.capitalize(), scheme, join_host_port(host, port), path, go_net_error(e, host, port)),
                       go_net_error(e, host, port))


def join_host_port(host, port):
    return "[%s]:%s" % (host, port) if ":" in host else "%s:%s" % (host, port)


class NetError(Exception):
    def __init__(self, message, cause):
        super().__init__(message)
        self.cause = cause


# ---------------------------------------------------------------------------------------------------
# etcd v3 over gRPC, as the real API server and flanneld speak it, with the client certificate given:
# with etcd's authentication on, the certificate's CN is the etcd user whose roles decide what it may
# read and write. (etcd's JSON gateway cannot carry that: it dials etcd with the member's own
# certificate, so every request through it would be the member's.) The few messages used are encoded
# by hand; python3-grpcio carries them.
# ---------------------------------------------------------------------------------------------------

def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def unb64(data):
    return base64.b64decode(data or "")


def prefix_end(prefix):
    """etcd's range_end for "every key starting with prefix"."""
    b = bytearray(prefix.encode())
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\0"


def pb_varint(n):
    n &= (1 << 64) - 1  # int64: negatives as ten-byte two's complement, as protobuf does
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_int(field, n, always=False):
    """A varint field; proto3 leaves out zeros unless the field is a oneof member that is set."""
    return pb_varint(field << 3) + pb_varint(n) if (n or always) else b""


def pb_bytes(field, data):
    data = data.encode() if isinstance(data, str) else data
    return pb_varint(field << 3 | 2) + pb_varint(len(data)) + data if data else b""


def pb_parse(data):
    """field number -> list of values (int for varints, bytes for length-delimited); fixed-width fields skipped."""
    fields, i = {}, 0
    def varint():
        nonlocal i
        n = shift = 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n
    while i < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
            value = value - (1 << 64) if value >= 1 << 63 else value
        elif wire == 2:
            size = varint()
            value, i = data[i:i + size], i + size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
            continue
        else:
            raise EtcdError("etcd sent a protobuf wire type %d this client does not read" % wire)
        fields.setdefault(field, []).append(value)
    return fields


def pb_one(fields, field, default=0):
    values = fields.get(field)
    return values[-1] if values else default


def pb_revision(reply):
    return pb_one(pb_parse(pb_one(reply, 1, b"")), 3)


def pb_kv(data):
    """mvccpb.KeyValue as the gateway's JSON had it (base64 key and value, revisions as text)."""
    kv = pb_parse(data)
    return {"key": b64(pb_one(kv, 1, b"")), "create_revision": str(pb_one(kv, 2)), "mod_revision": str(pb_one(kv, 3)),
            "version": str(pb_one(kv, 4)), "value": b64(pb_one(kv, 5, b"")), "lease": str(pb_one(kv, 6))}


COMPARE_TARGETS = {"VERSION": (0, 4), "CREATE": (1, 5), "MOD": (2, 6)}


class EtcdError(Exception):
    pass


class Etcd:
    def __init__(self, endpoints, ca=None, cert=None, key=None):
        self.endpoints = [e.strip() for e in endpoints if e.strip()]
        self.channels = {}
        self.lock = threading.Lock()
        self.ctx = self.pem = None
        if any(e.startswith("https://") for e in self.endpoints):
            # Read and checked at start (a missing file or a key that does not match ends the process, as upstream).
            self.ctx = client_context(ca_file=ca, cert_file=cert, key_file=key)
            # With TLS 1.3 etcd refuses a client certificate after the client's handshake is done, so the alert is
            # usually lost; with 1.2 the refusal arrives in the handshake, worded as etcd means it.
            self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            self.pem = (read_file(ca) if ca else None, read_file(key) if key else None, read_file(cert) if cert else None)

    def channel(self, endpoint):
        import grpc  # only the components that talk to etcd need it
        with self.lock:
            ch = self.channels.get(endpoint)
            if ch is None:
                scheme, host, port = split_url(endpoint)
                target = join_host_port(host, port)
                if scheme == "https":
                    ca, key, cert = self.pem
                    ch = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert))
                else:
                    ch = grpc.insecure_channel(target)
                self.channels[endpoint] = ch
            return ch

    def dial_error(self, endpoint):
        """Why an endpoint is unavailable, worded as Go reports it (grpc's own text names BoringSSL internals)."""
        scheme, host, port = split_url(endpoint)
        try:
            with socket.create_connection((host, port), timeout=3) as raw:
                if scheme == "https":
                    with self.ctx.wrap_socket(raw, server_hostname=host) as tls:
                        tls.do_handshake()
            return None
        except (OSError, ssl.SSLError) as e:
            return go_net_error(e, host, port)

    def call(self, method, request, stream=False):
        import grpc
        errors = []
        for endpoint in self.endpoints:
            ch = self.channel(endpoint)
            try:
                if stream:
                    replies = ch.stream_stream(method)(iter([request]), timeout=5)
                    return pb_parse(next(replies))
                return pb_parse(ch.unary_unary(method)(request, timeout=5))
            except grpc.RpcError as e:
                if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    errors.append("%s: %s" % (endpoint, self.dial_error(endpoint) or e.details()))
                    continue
                # etcd's own errors read "etcdserver: permission denied", "etcdserver: user name not found", ...
                raise EtcdError(e.details() or str(e.code()))
        raise EtcdError("; ".join(errors) or "no etcd endpoints")

    def get(self, key):
        reply = self.call("/etcdserverpb.KV/Range", pb_bytes(1, key))
        kvs = reply.get(2, [])
        return pb_kv(kvs[0]) if kvs else None

    def range_prefix(self, prefix):
        reply = self.call("/etcdserverpb.KV/Range", pb_bytes(1, prefix) + pb_bytes(2, prefix_end(prefix)))
        return [pb_kv(kv) for kv in reply.get(2, [])], pb_revision(reply)

    @staticmethod
    def put_request(key, value, lease=None):
        return pb_bytes(1, key) + pb_bytes(2, value) + pb_int(3, int(lease or 0))

    def put(self, key, value, lease=None):
        return pb_revision(self.call("/etcdserverpb.KV/Put", self.put_request(key, value, lease)))

    def txn(self, key, target, revision, success):
        """One compare (key's create/mod revision or version equals revision; 0 = absent) and one operation."""
        target_code, field = COMPARE_TARGETS[target]
        compare = pb_int(1, 0) + pb_int(2, target_code) + pb_bytes(3, key) + pb_int(field, int(revision), always=True)
        reply = self.call("/etcdserverpb.KV/Txn", pb_bytes(1, compare) + pb_bytes(2, success))
        return bool(pb_one(reply, 2)), pb_revision(reply)

    def txn_put(self, key, value, target, revision, lease=None):
        """Put only if key's create/mod revision equals revision (0 = absent): the stores' optimistic concurrency."""
        return self.txn(key, target, revision, pb_bytes(2, self.put_request(key, value, lease)))

    def txn_delete(self, key, mod_revision):
        return self.txn(key, "MOD", mod_revision, pb_bytes(3, pb_bytes(1, key)))[0]

    def delete_prefix(self, prefix):
        self.call("/etcdserverpb.KV/DeleteRange", pb_bytes(1, prefix) + pb_bytes(2, prefix_end(prefix)))

    def grant(self, ttl):
        reply = self.call("/etcdserverpb.Lease/LeaseGrant", pb_int(1, ttl))
        if pb_one(reply, 4, b""):
            raise EtcdError(pb_one(reply, 4).decode())
        return pb_one(reply, 2)

    def keepalive(self, lease):
        return pb_one(self.call("/etcdserverpb.Lease/LeaseKeepAlive", pb_int(1, lease), stream=True), 3)


def kv_value(kv):
    return unb64(kv.get("value"))


# ---------------------------------------------------------------------------------------------------
# The API's resource types: shared by the API server (routing, storage keys) and kubectl (mapping
# manifests' kinds to resources, short names).
# ---------------------------------------------------------------------------------------------------

class Resource:
    def __init__(self, group, version, kind, plural, namespaced, short=()):
        self.group, self.version, self.kind, self.plural, self.namespaced, self.short = group, version, kind, plural, namespaced, short

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self):
        """`nodes`, `leases.coordination.k8s.io`: how upstream names a resource in messages."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    @property
    def kind_qualified(self):
        """`node`, `deployment.apps`: how kubectl names a kind in `-o name` and apply output."""
        return "%s.%s" % (self.kind.lower(), self.group) if self.group else self.kind.lower()


RESOURCES = [
    Resource("", "v1", "Namespace", "namespaces", False, ("ns",)),
    Resource("", "v1", "Node", "nodes", False, ("no",)),
    Resource("", "v1", "Service", "services", True, ("svc",)),
    Resource("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    Resource("", "v1", "Secret", "secrets", True),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    Resource("", "v1", "Pod", "pods", True, ("po",)),
    Resource("", "v1", "Event", "events", True, ("ev",)),
    Resource("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",)),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",)),
    Resource("", "v1", "LimitRange", "limitranges", True, ("limits",)),
    Resource("", "v1", "ResourceQuota", "resourcequotas", True, ("quota",)),
    Resource("apps", "v1", "Deployment", "deployments", True, ("deploy",)),
    Resource("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",)),
    Resource("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",)),
    Resource("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",)),
    Resource("batch", "v1", "Job", "jobs", True),
    Resource("batch", "v1", "CronJob", "cronjobs", True, ("cj",)),
    Resource(RBAC_GROUP, "v1", "ClusterRole", "clusterroles", False),
    Resource(RBAC_GROUP, "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    Resource(RBAC_GROUP, "v1", "Role", "roles", True),
    Resource(RBAC_GROUP, "v1", "RoleBinding", "rolebindings", True),
    Resource("coordination.k8s.io", "v1", "Lease", "leases", True),
    Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",)),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    Resource("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",)),
    Resource("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    Resource("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
    Resource("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",)),
    Resource("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", False, ("csr",)),
    Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False, ("crd", "crds")),
    Resource("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", False),
    Resource("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False),
]


def resource_by_path(group, version, plural):
    for r in RESOURCES:
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None


def resource_by_kind(api_version, kind):
    for r in RESOURCES:
        if r.api_version == api_version and r.kind == kind:
            return r
    return None


def resource_by_name(name):
    """kubectl's lookup: plural, singular, short name or kind, optionally `.group`-qualified."""
    name = name.lower()
    base, _, group = name.partition(".")
    for r in RESOURCES:
        names = {r.plural, r.kind.lower()} | set(r.short)
        if base in names and (not group or group == r.group):
            return r
    return None


# ---------------------------------------------------------------------------------------------------
# A Kubernetes API client from a kubeconfig, as client-go builds one (used by every component but the
# API server itself)
# ---------------------------------------------------------------------------------------------------

class ApiError(Exception):
    """A Status from the server (status >= 400)."""

    def __init__(self, status, body):
        self.status, self.body = status, body if isinstance(body, dict) else {}
        self.text = body if isinstance(body, str) else ""
        super().__init__(self.message)

    @property
    def reason(self):
        return self.body.get("reason") or {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
                                            422: "Invalid", 500: "InternalError", 503: "ServiceUnavailable"}.get(self.status, "Unknown")

    @property
    def message(self):
        return self.body.get("message") or self.text.strip() or "unknown (status %d)" % self.status


class KubeClient:
    def __init__(self, kubeconfig=None, server=None, context=None, token=None, user_agent=None):
        self.path = kubeconfig
        self.user_agent = user_agent or "standin-" + component_name()
        self.namespace = "default"
        self.token = token
        if kubeconfig:
            self._load(kubeconfig, context)
        else:
            self.server, self.ctx = server or "http://localhost:8080", None
        _, self.host, self.port = split_url(self.server)

    def _load(self, path, context_name):
        try:
            with open(path) as f:
                cfg = load_yaml(f.read()) or {}
        except OSError as e:
            fatal("stat %s: %s" % (path, go_strerror(e)))
        base = os.path.dirname(os.path.abspath(path))
        named = lambda section, name: next((x.get(section[:-1], {}) for x in cfg.get(section) or [] if x.get("name") == name), None)
        context_name = context_name or cfg.get("current-context")
        if not context_name:
            fatal("invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable")
        context = named("contexts", context_name)
        if context is None:
            fatal('invalid configuration: context was not found for specified context: %s' % context_name)
        cluster = named("clusters", context.get("cluster"))
        user = named("users", context.get("user")) or {}
        if cluster is None or not cluster.get("server"):
            fatal('invalid configuration: no server found for cluster "%s"' % context.get("cluster"))
        self.server = cluster["server"].rstrip("/")
        self.namespace = context.get("namespace") or "default"
        rel = lambda p: p if not p or os.path.isabs(p) else os.path.join(base, p)
        data = lambda key, where: base64.b64decode(where[key]) if where.get(key) else None
        if self.server.startswith("https://"):
            self.ctx = client_context(
                ca_file=rel(cluster.get("certificate-authority")), ca_data=data("certificate-authority-data", cluster),
                cert_file=rel(user.get("client-certificate")), key_file=rel(user.get("client-key")),
                cert_data=data("client-certificate-data", user), key_data=data("client-key-data", user),
                insecure=bool(cluster.get("insecure-skip-tls-verify")))
        else:
            self.ctx = None
        if not self.token and user.get("token"):
            self.token = user["token"]
        elif not self.token and user.get("tokenFile"):
            self.token = read_file(rel(user["tokenFile"])).decode().strip()

    def with_token(self, token):
        """The same server and CA, authenticated by a bearer token instead of the certificate (client-go's SA clients)."""
        other = KubeClient.__new__(KubeClient)
        other.__dict__.update(self.__dict__)
        other.token = token
        if self.ctx is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = self.ctx.check_hostname, self.ctx.verify_mode
            if ctx.verify_mode != ssl.CERT_NONE:
                for ca in self.ctx.get_ca_certs(binary_form=True):
                    ctx.load_verify_locations(cadata=ca)
            other.ctx = ctx
        return other

    def request(self, method, path, body=None, content_type="application/json", raw=False):
        headers = {"User-Agent": self.user_agent, "Accept": "application/json, */*"}
        if body is not None:
            headers["Content-Type"] = content_type
            body = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        status, resp_headers, data = https_request(self.ctx, self.host, self.port, method, path, body, headers)
        text = data.decode("utf-8", "replace")
        parsed = text
        if "json" in resp_headers.get("content-type", ""):
            try:
                parsed = json.loads(text)
            except ValueError:
                pass
        if status >= 400:
            raise ApiError(status, parsed)
        return parsed if not raw else text

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body):
        return self.request("POST", path, body)

    def put(self, path, body):
        return self.request("PUT", path, body)

    def patch(self, path, body, content_type="application/merge-patch+json"):
        return self.request("PATCH", path, body, content_type)

    def delete(self, path):
        return self.request("DELETE", path)


def api_path(resource, namespace=None, name=None, sub=None):
    base = "/api/%s" % resource.version if not resource.group else "/apis/%s/%s" % (resource.group, resource.version)
    if resource.namespaced and namespace:
        base += "/namespaces/" + namespace
    base += "/" + resource.plural
    if name:
        base += "/" + urllib.parse.quote(name, safe=":")
    if sub:
        base += "/" + sub
    return base


def res(plural, group=""):
    return next(r for r in RESOURCES if r.plural == plural and r.group == group)


def describe_failure(e):
    """One line for a journal, like client-go's errors."""
    if isinstance(e, ApiError):
        return e.message if e.status != 401 else "Unauthorized"
    return str(e)


# ---------------------------------------------------------------------------------------------------
# Upstream's bootstrap RBAC policy (the subset a provisioner meets), stored in etcd at start-up as the
# real API server's rbac/bootstrap-roles hook does
# ---------------------------------------------------------------------------------------------------

def rule(verbs, groups=("",), resources=(), names=(), urls=()):
    r = {"verbs": list(verbs)}
    if urls:
        r["nonResourceURLs"] = list(urls)
    else:
        r["apiGroups"], r["resources"] = list(groups), list(resources)
        if names:
            r["resourceNames"] = list(names)
    return r


READ = ("get", "list", "watch")
EVENTS = rule(("create", "patch", "update"), ("", "events.k8s.io"), ("events",))
HEALTH_URLS = ("/healthz", "/livez", "/readyz", "/version", "/version/")
NODE_RULES = [
    rule(("create",), ("authentication.k8s.io",), ("tokenreviews",)),
    rule(("create",), ("authorization.k8s.io",), ("subjectaccessreviews", "localsubjectaccessreviews")),
    rule(READ, ("",), ("services", "endpoints")),
    rule(("create", "get", "list", "watch", "update", "patch"), ("",), ("nodes",)),
    rule(("update", "patch"), ("",), ("nodes/status",)),
    rule(("create", "update", "patch"), ("", "events.k8s.io"), ("events",)),
    rule(READ + ("create", "delete"), ("",), ("pods",)),
    rule(("update", "patch"), ("",), ("pods/status",)),
    rule(("create",), ("",), ("pods/eviction",)),
    rule(("create", "get", "list", "watch"), ("certificates.k8s.io",), ("certificatesigningrequests",)),
    rule(("get", "create", "update", "patch", "delete"), ("coordination.k8s.io",), ("leases",)),
    rule(READ, ("storage.k8s.io",), ("csidrivers",)),
    rule(READ + ("create", "update", "patch", "delete"), ("storage.k8s.io",), ("csinodes",)),
    rule(READ, ("node.k8s.io",), ("runtimeclasses",)),
]
VIEW_RESOURCES = {
    "": ("configmaps", "endpoints", "persistentvolumeclaims", "pods", "replicationcontrollers", "services", "serviceaccounts",
         "events", "limitranges", "namespaces", "resourcequotas", "pods/log", "pods/status", "services/status"),
    "apps": ("daemonsets", "deployments", "replicasets", "statefulsets"), "batch": ("cronjobs", "jobs"),
    "policy": ("poddisruptionbudgets",), "networking.k8s.io": ("ingresses", "networkpolicies"),
    "discovery.k8s.io": ("endpointslices",), "autoscaling": ("horizontalpodautoscalers",),
}

BOOTSTRAP_CLUSTER_ROLES = {
    "cluster-admin": [rule(("*",), ("*",), ("*",)), rule(("*",), urls=("*",))],
    "system:discovery": [rule(("get",), urls=("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                              "/openapi/*", "/readyz", "/version", "/version/"))],
    "system:basic-user": [rule(("create",), ("authorization.k8s.io",), ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),
                          rule(("create",), ("authentication.k8s.io",), ("selfsubjectreviews",))],
    "system:public-info-viewer": [rule(("get",), urls=HEALTH_URLS)],
    "system:monitoring": [rule(("get",), urls=("/healthz", "/healthz/*", "/livez", "/livez/*", "/readyz", "/readyz/*",
                                               "/metrics", "/metrics/slis"))],
    "view": [rule(READ, (group,), resources) for group, resources in VIEW_RESOURCES.items()],
    "system:node": NODE_RULES,
    "system:node-proxier": [rule(("list", "watch"), ("",), ("endpoints", "services")), rule(READ, ("",), ("nodes",)),
                            EVENTS, rule(("list", "watch"), ("discovery.k8s.io",), ("endpointslices",))],
    "system:kube-controller-manager": [
        EVENTS, rule(("create",), ("coordination.k8s.io",), ("leases",)),
        rule(("get", "update"), ("coordination.k8s.io",), ("leases",), ("kube-controller-manager",)),
        rule(("create",), ("",), ("endpoints",)), rule(("get", "update"), ("",), ("endpoints",), ("kube-controller-manager",)),
        rule(("create",), ("",), ("secrets", "serviceaccounts")), rule(("delete",), ("",), ("secrets",)),
        rule(("get",), ("",), ("namespaces", "secrets", "serviceaccounts", "configmaps")),
        rule(("update",), ("",), ("secrets", "serviceaccounts")),
        rule(("create",), ("authentication.k8s.io",), ("tokenreviews",)),
        rule(("create",), ("authorization.k8s.io",), ("subjectaccessreviews",)),
        rule(("list", "watch"), ("*",), ("*",)),
        rule(("create",), ("",), ("serviceaccounts/token",)),
    ],
    "system:kube-scheduler": [
        EVENTS, rule(("create",), ("coordination.k8s.io",), ("leases",)),
        rule(("get", "update"), ("coordination.k8s.io",), ("leases",), ("kube-scheduler",)),
        rule(("create",), ("",), ("endpoints",)), rule(("get", "update"), ("",), ("endpoints",), ("kube-scheduler",)),
        rule(READ, ("",), ("nodes",)), rule(READ + ("delete",), ("",), ("pods",)),
        rule(("create",), ("",), ("bindings", "pods/binding")), rule(("patch", "update"), ("",), ("pods/status",)),
        rule(("list", "watch"), ("",), ("replicationcontrollers", "services", "namespaces", "persistentvolumeclaims", "persistentvolumes")),
        rule(("list", "watch"), ("apps",), ("replicasets", "statefulsets")),
        rule(("list", "watch"), ("policy",), ("poddisruptionbudgets",)),
        rule(("create",), ("authentication.k8s.io",), ("tokenreviews",)),
        rule(("create",), ("authorization.k8s.io",), ("subjectaccessreviews",)),
        rule(("list", "watch"), ("storage.k8s.io",), ("csinodes", "csidrivers", "csistoragecapacities", "storageclasses")),
    ],
    "system:volume-scheduler": [rule(READ + ("patch", "update"), ("",), ("persistentvolumes",)),
                                rule(READ, ("storage.k8s.io",), ("storageclasses",))],
    "system:kube-dns": [rule(("list", "watch"), ("",), ("endpoints", "services"))],
    "system:kubelet-api-admin": [rule(READ + ("proxy",), ("",), ("nodes",)),
                                 rule(("*",), ("",), ("nodes/proxy", "nodes/log", "nodes/stats", "nodes/metrics",
                                                      "nodes/configz", "nodes/healthz", "nodes/pods"))],
    "system:auth-delegator": [rule(("create",), ("authentication.k8s.io",), ("tokenreviews",)),
                              rule(("create",), ("authorization.k8s.io",), ("subjectaccessreviews",))],
    "system:controller:node-controller": [
        rule(("delete", "get", "list", "patch", "update"), ("",), ("nodes",)),
        rule(("patch", "update"), ("",), ("nodes/status",)), rule(("patch", "update"), ("",), ("pods/status",)),
        rule(("delete", "list"), ("",), ("pods",)), EVENTS,
    ],
}


def subject(kind, name, namespace=None):
    s = {"kind": kind, "name": name}
    if kind == "ServiceAccount":
        s["namespace"] = namespace
    else:
        s["apiGroup"] = RBAC_GROUP
    return s


BOOTSTRAP_CLUSTER_ROLE_BINDINGS = {
    "cluster-admin": ("cluster-admin", [subject("Group", "system:masters")]),
    "system:discovery": ("system:discovery", [subject("Group", "system:authenticated")]),
    "system:basic-user": ("system:basic-user", [subject("Group", "system:authenticated")]),
    "system:public-info-viewer": ("system:public-info-viewer", [subject("Group", "system:authenticated"),
                                                                subject("Group", "system:unauthenticated")]),
    "system:monitoring": ("system:monitoring", [subject("Group", "system:monitoring")]),
    "system:node": ("system:node", []),
    "system:node-proxier": ("system:node-proxier", [subject("User", "system:kube-proxy")]),
    "system:kube-controller-manager": ("system:kube-controller-manager", [subject("User", "system:kube-controller-manager")]),
    "system:kube-scheduler": ("system:kube-scheduler", [subject("User", "system:kube-scheduler")]),
    "system:volume-scheduler": ("system:volume-scheduler", [subject("User", "system:kube-scheduler")]),
    "system:kube-dns": ("system:kube-dns", [subject("ServiceAccount", "kube-dns", "kube-system")]),
    "system:controller:node-controller": ("system:controller:node-controller",
                                          [subject("ServiceAccount", "node-controller", "kube-system")]),
}

BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
BOOTSTRAP_ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def bootstrap_rbac_objects():
    objs = []
    for name, rules in BOOTSTRAP_CLUSTER_ROLES.items():
        objs.append((res("clusterroles", RBAC_GROUP), {"apiVersion": RBAC_GROUP + "/v1", "kind": "ClusterRole", "metadata": {
            "name": name, "labels": dict(BOOTSTRAP_LABELS), "annotations": dict(BOOTSTRAP_ANNOTATIONS)}, "rules": rules}))
    for name, (role, subjects) in BOOTSTRAP_CLUSTER_ROLE_BINDINGS.items():
        body = {"apiVersion": RBAC_GROUP + "/v1", "kind": "ClusterRoleBinding", "metadata": {
            "name": name, "labels": dict(BOOTSTRAP_LABELS), "annotations": dict(BOOTSTRAP_ANNOTATIONS)},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role}}
        if subjects:
            body["subjects"] = subjects
        objs.append((res("clusterrolebindings", RBAC_GROUP), body))
    return objs


def rule_allows(r, attrs):
    """RBAC's rule match: verbs, groups, resources (`res/sub`, `*`, `*/sub`), names; or non-resource URLs."""
    verbs = r.get("verbs") or []
    if "*" not in verbs and attrs["verb"] not in verbs:
        return False
    if attrs.get("path") is not None:
        for url in r.get("nonResourceURLs") or []:
            if url == "*" or url == attrs["path"] or (url.endswith("*") and attrs["path"].startswith(url[:-1])):
                return True
        return False
    if "nonResourceURLs" in r and not r.get("resources"):
        return False
    groups = r.get("apiGroups") or []
    if "*" not in groups and attrs["group"] not in groups:
        return False
    wanted = attrs["resource"] + ("/" + attrs["subresource"] if attrs.get("subresource") else "")
    resources = r.get("resources") or []
    if not ("*" in resources or wanted in resources or
            (attrs.get("subresource") and "*/" + attrs["subresource"] in resources)):
        return False
    names = r.get("resourceNames") or []
    return not names or attrs.get("name") in names


def subject_matches(s, user, groups, binding_namespace=None):
    kind, name = s.get("kind"), s.get("name")
    if kind == "User":
        return name == user
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        return user == "system:serviceaccount:%s:%s" % (s.get("namespace") or binding_namespace, name)
    return False


# ---------------------------------------------------------------------------------------------------
# Validation shared by the API server's REST layer (messages as upstream's field errors)
# ---------------------------------------------------------------------------------------------------

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + r")*"
DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def name_problem(resource, name):
    if resource.group == RBAC_GROUP:
        if name in (".", "..") or "/" in name or "%" in name:
            return "may not contain '/' or '%%', or be '.' or '..'"
        return None
    if resource.plural == "namespaces" and not re.fullmatch(DNS1123_LABEL, name):
        return ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
                "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '%s')" % DNS1123_LABEL)
    if resource.plural == "services" and not re.fullmatch(DNS1035_LABEL, name):
        return ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
                "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '%s')" % DNS1035_LABEL)
    if not re.fullmatch(DNS1123_SUBDOMAIN, name) or len(name) > 253:
        return ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
                "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '%s')" % DNS1123_SUBDOMAIN)
    return None


def label_problems(labels, field="metadata.labels"):
    problems = []
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (not re.fullmatch(DNS1123_SUBDOMAIN, prefix) or len(prefix) > 253)) or not re.fullmatch(LABEL_NAME, name) or len(name) > 63:
            problems.append('%s: Invalid value: "%s": name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', '
                            'and must start and end with an alphanumeric character' % (field, key))
        if not isinstance(value, str) or len(value) > 63 or (value and not re.fullmatch(LABEL_NAME, value)):
            problems.append('%s: Invalid value: "%s": a valid label must be an empty string or consist of alphanumeric '
                            'characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character' % (field, value))
    return problems


def taint_problems(taints, field="spec.taints"):
    problems = []
    for i, t in enumerate(taints or []):
        if t.get("effect") not in TAINT_EFFECTS:
            problems.append('%s[%d].effect: Unsupported value: "%s": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'
                            % (field, i, t.get("effect", "")))
        if not t.get("key"):
            problems.append("%s[%d].key: Required value" % (field, i))
    return problems


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target, ops):
    """RFC 6902 JSON patch: add, remove, replace, test."""
    doc = json.loads(json.dumps(target))
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op["op"] == "add":
                parent.insert(index, op["value"])
            elif op["op"] == "remove":
                parent.pop(index)
            elif op["op"] == "replace":
                parent[index] = op["value"]
            elif op["op"] == "test" and parent[index] != op["value"]:
                raise ValueError("the test operation failed")
        else:
            if op["op"] in ("add", "replace"):
                parent[last] = op["value"]
            elif op["op"] == "remove":
                del parent[last]
            elif op["op"] == "test" and parent.get(last) != op["value"]:
                raise ValueError("the test operation failed")
    return doc


# ---------------------------------------------------------------------------------------------------
# HTTP(S) serving shared by every component: the TLS handshake runs in the request's thread (one
# silent client cannot stall accept()), and a failed handshake is logged as Go's http server logs it.
# ---------------------------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin"
    sys_version = ""

    def log_message(self, fmt, *args):  # keep the journal quiet: probes poll often
        pass

    def setup(self):
        self.tls_failed = False
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError) as e:
                self.tls_failed = True
                log("http: TLS handshake error from %s:%d: %s" % (self.client_address[0], self.client_address[1],
                                                                  go_net_error(e, *self.client_address[:2])))
                self.drain()
            self.request.settimeout(None)
        super().setup()

    def drain(self):
        """Reads what the client already sent before closing: closing with unread data sends a TCP reset, which
        would destroy the TLS alert (with TLS 1.3 a client learns its certificate was refused only after its
        handshake finished, from that alert)."""
        try:
            self.request.settimeout(0.5)
            while socket.socket.recv(self.request, 65536):
                pass
        except OSError:
            pass

    def handle(self):
        if not self.tls_failed:
            super().handle()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, code, body, ctype="text/plain; charset=utf-8"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def reply_json(self, code, obj):
        self.reply(code, json.dumps(obj), "application/json")

    def peer_identity(self):
        """(CN, [O...]) of a client certificate the TLS layer verified, else None."""
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            return None
        if not cert:
            return None
        cn, orgs = None, []
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    cn = value
                elif key == "organizationName":
                    orgs.append(value)
        return cn, orgs

    def _dispatch(self):
        self.server.app.serve(self, self.command)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host, port, app, ctx=None):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            super().__init__((host, port), Handler)
        except OSError as e:
            fatal("failed to listen on %s: listen tcp %s: bind: %s" % (join_host_port(host, port), join_host_port(host, port), go_strerror(e)))
        self.app = app
        if ctx:
            self.socket = ctx.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        log("request from %s failed: %s" % (client_address[0], sys.exc_info()[1]), "E")


def server_context(cert, key, client_ca=None, what="serving"):
    check_key_pair(cert, key, what)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        read_file(client_ca)
        try:
            ctx.load_verify_locations(client_ca)
        except ssl.SSLError:
            fatal('unable to load client CA file "%s": data does not contain any valid RSA or ECDSA certificates' % client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL  # a client without a certificate is anonymous, not refused
    return ctx


def self_signed(component, directory=None, sans=()):
    """What the real binaries do without --tls-cert-file: a self-signed serving certificate of their own."""
    directory = directory or private_tempdir()
    os.makedirs(directory, exist_ok=True)
    cert, key = os.path.join(directory, "%s.crt" % component), os.path.join(directory, "%s.key" % component)
    if not (os.path.exists(cert) and os.path.exists(key)):
        san = ",".join(["DNS:localhost"] + ["IP:%s" % s if is_ip(s) else "DNS:%s" % s for s in sans if s])
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-days", "365", "-subj", "/CN=%s@%d" % (component, int(time.time())), "-addext", "subjectAltName=" + san,
                        "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def health_body(checks, name, verbose):
    """upstream's /healthz, /livez, /readyz body: `ok`, or each check and the verdict."""
    failed = [c for c in checks if c[1]]
    if not failed and not verbose:
        return 200, "ok"
    lines = ["[-]%s failed: %s" % (c[0], c[1]) if c[1] else "[+]%s ok" % c[0] for c in checks]
    lines.append("%s check %s" % (name, "failed" if failed else "passed"))
    return (500 if failed else 200), "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# kube-apiserver
# ---------------------------------------------------------------------------------------------------

class Status(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def details(resource, name):
    d = {"kind": resource.plural}
    if name:
        d["name"] = name
    if resource.group:
        d["group"] = resource.group
    return d


def not_found(resource, name):
    return Status(404, "NotFound", '%s "%s" not found' % (resource.qualified, name), details(resource, name))


def invalid(resource, name, problems):
    text = problems[0] if len(problems) == 1 else "[%s]" % ", ".join(problems)
    return Status(422, "Invalid", '%s "%s" is invalid: %s' % (resource.kind, name, text), details(resource, name))


def conflict(resource, name):
    return Status(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; please apply '
                  'your changes to the latest version and try again' % (resource.qualified, name), details(resource, name))


def forbidden(resource, name, reason):
    what = '%s "%s"' % (resource.qualified, name) if name else resource.qualified
    return Status(403, "Forbidden", "%s is forbidden: %s" % (what, reason), details(resource, name))


def bad_request(message):
    return Status(400, "BadRequest", message)


class User:
    def __init__(self, name, groups, uid=""):
        self.name, self.groups, self.uid = name, list(groups), uid

    def groups_text(self):
        return "[%s]" % " ".join('"%s"' % g for g in self.groups)


ANONYMOUS = User("system:anonymous", ["system:unauthenticated"])


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def openssl_public_key(path, directory, index):
    """A service-account key file (private key, public key or certificate) as a PEM public key file."""
    out = os.path.join(directory, "sa-%d.pub" % index)
    for args in (["pkey", "-pubin", "-in", path, "-pubout"], ["pkey", "-in", path, "-pubout"], ["x509", "-in", path, "-pubkey", "-noout"]):
        r = subprocess.run(["openssl"] + args + ["-out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return out
    fatal('failed to parse service-account-key-file "%s": data does not contain any valid RSA or ECDSA public keys' % path)


# ---------------------------------------------------------------------------------------------------
# Encryption at rest (--encryption-provider-config): upstream's EncryptionConfiguration, with the
# identity and secretbox providers (secretbox as upstream stores it: k8s:enc:secretbox:v1:<key name>:
# then the nonce and the sealed box). The first provider of the first rule that names a resource
# writes it; every provider of that rule may read it.
# ---------------------------------------------------------------------------------------------------

SECRETBOX_PREFIX = b"k8s:enc:secretbox:v1:"


class EncryptionRule:
    def __init__(self, patterns, providers):
        self.patterns, self.providers = patterns, providers  # providers: ("identity", None) | ("secretbox", [(name, key)])

    def matches(self, resource):
        group = resource.group or ""
        for p in self.patterns:
            name, _, pgroup = p.partition(".")
            if p in ("*.*", resource.qualified) or (name == "*" and pgroup == group) or (not pgroup and not group and name == resource.plural):
                return True
        return False

    def write(self, data):
        kind, keys = self.providers[0]
        if kind == "identity":
            return data
        import nacl.secret
        import nacl.utils
        name, key = keys[0]
        nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
        return SECRETBOX_PREFIX + name.encode() + b":" + bytes(nacl.secret.SecretBox(key).encrypt(data, nonce))

    def read(self, data):
        """(plain data, stale): stale when not written by the first provider and key, so an update must write it
        again even if nothing changed (what makes upstream's `get | replace` encrypt what was stored before)."""
        first_kind, first_keys = self.providers[0]
        for kind, keys in self.providers:
            if kind == "secretbox" and data.startswith(SECRETBOX_PREFIX):
                for name, key in keys:
                    prefix = SECRETBOX_PREFIX + name.encode() + b":"
                    if data.startswith(prefix):
                        import nacl.secret
                        fresh = first_kind == "secretbox" and first_keys[0][0] == name
                        return nacl.secret.SecretBox(key).decrypt(data[len(prefix):]), not fresh
        if data.startswith(b"k8s:enc:"):
            raise EtcdError("no matching prefix found")
        if any(kind == "identity" for kind, _ in self.providers):
            return data, first_kind != "identity"
        raise EtcdError("identity transformer tried to read encrypted data")


AUDIT_LEVELS = ("None", "Metadata", "Request", "RequestResponse")
AUDIT_STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")


def check_audit_policy(path):
    """An audit policy upstream would load; an invalid one ends the process, as upstream refuses to start."""
    policy = load_yaml(read_file(path).decode()) or {}
    where = "loading audit policy file: "
    if policy.get("kind") != "Policy" or policy.get("apiVersion") not in ("audit.k8s.io/v1", "audit.k8s.io/v1beta1"):
        fatal('%sfailed decoding: no kind "%s" is registered for version "%s"' % (where, policy.get("kind"), policy.get("apiVersion")))
    rules = policy.get("rules") or []
    if not rules:
        fatal("%sloaded illegal policy with 0 rules from file %s" % (where, path))
    for i, rule in enumerate(rules):
        if rule.get("level") not in AUDIT_LEVELS:
            fatal('%srules[%d].level: Unsupported value: "%s": supported values: %s' % (where, i, rule.get("level"), ", ".join('"%s"' % l for l in AUDIT_LEVELS)))
    for stage in policy.get("omitStages") or []:
        if stage not in AUDIT_STAGES:
            fatal('%somitStages: Unsupported value: "%s"' % (where, stage))


def load_encryption_config(path):
    """The rules of an EncryptionConfiguration file; an invalid one ends the process, as upstream refuses to start."""
    config = load_yaml(read_file(path).decode()) or {}
    where = "error while parsing file: "
    if config.get("kind") != "EncryptionConfiguration" or config.get("apiVersion") not in ("apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1beta1"):
        fatal('%sno kind "%s" is registered for version "%s"' % (where, config.get("kind"), config.get("apiVersion")))
    rules = []
    for i, entry in enumerate(config.get("resources") or []):
        patterns = entry.get("resources") or []
        if not patterns:
            fatal("%sresources[%d].resources: Required value: resources is a required field" % (where, i))
        providers = []
        for j, provider in enumerate(entry.get("providers") or []):
            field = "resources[%d].providers[%d]" % (i, j)
            if len(provider) != 1:
                fatal("%s%s: Invalid value: more than one provider specified in a single element, should split into different list elements" % (where, field))
            kind, body = next(iter(provider.items()))
            if kind == "identity":
                providers.append(("identity", None))
            elif kind == "secretbox":
                keys = []
                for k, key in enumerate((body or {}).get("keys") or []):
                    try:
                        secret = base64.b64decode(key.get("secret") or "", validate=True)
                    except ValueError:
                        fatal('%s%s.secretbox.keys[%d].secret: Invalid value: "REDACTED": secrets must be base64 encoded' % (where, field, k))
                    if len(secret) != 32:
                        fatal('%s%s.secretbox.keys[%d].secret: Invalid value: "REDACTED": secret is not of the expected length, got %d, expected one of [32]' % (where, field, k, len(secret)))
                    if not key.get("name") or ":" in key["name"]:
                        fatal("%s%s.secretbox.keys[%d].name: Invalid value: a key name is required and may not contain ':'" % (where, field, k))
                    keys.append((key["name"], secret))
                if not keys:
                    fatal("%s%s.secretbox.keys: Required value: keys (list) should have at least 1 element" % (where, field))
                providers.append(("secretbox", keys))
            else:
                fatal("%s%s: the %s provider is not implemented by this stand-in (identity and secretbox are)" % (where, field, kind))
        if not providers:
            fatal("%sresources[%d].providers: Required value: providers (list) should have at least 1 element" % (where, i))
        rules.append(EncryptionRule(patterns, providers))
    return rules


class ApiServer:
    def __init__(self, flags):
        self.flags = flags
        self.check_required(flags)
        self.prefix = (flags.get("etcd-prefix") or "/registry").rstrip("/")
        self.enabled_admission = self.admission_plugins(flags)
        self.authz_modes = self.authorization_modes(flags)
        self.service_range, self.node_ports = self.service_ranges(flags)
        self.bind = flags.get("bind-address") or "0.0.0.0"
        self.port = int(flags.get("secure-port") or 6443)
        self.advertise = flags.get("advertise-address") or (self.bind if self.bind not in ("0.0.0.0", "::") else first_host_ip())
        self.anonymous = flags.bool("anonymous-auth", True)
        cert, key = flags.get("tls-cert-file"), flags.get("tls-private-key-file")
        if not (cert and key):
            cert, key = self_signed("apiserver", flags.get("cert-dir") or "/var/run/kubernetes", (self.advertise, "127.0.0.1"))
        self.ctx = server_context(cert, key, flags.get("client-ca-file"))
        for c, k, what in ((flags.get("kubelet-client-certificate"), flags.get("kubelet-client-key"), "kubelet client"),
                           (flags.get("proxy-client-cert-file"), flags.get("proxy-client-key-file"), "proxy client")):
            if c or k:
                check_key_pair(c or "", k or "", what)
        self.encryption = load_encryption_config(flags.get("encryption-provider-config")) if flags.get("encryption-provider-config") else []
        if flags.get("audit-policy-file"):
            check_audit_policy(flags.get("audit-policy-file"))
        for name in ("requestheader-client-ca-file", "kubelet-certificate-authority",
                     "audit-policy-file", "admission-control-config-file", "egress-selector-config-file", "token-auth-file",
                     "authentication-config", "authorization-config"):
            if flags.get(name):
                read_file(flags.get(name))
        self.etcd = Etcd(flags.all("etcd-servers"), flags.get("etcd-cafile"), flags.get("etcd-certfile"), flags.get("etcd-keyfile"))
        self.load_service_account_keys(flags, key)
        self.bootstrapped = threading.Event()
        self.rbac_cache, self.rbac_lock = (0.0, None), threading.Lock()
        self.token_cache = {}

    # -- start-up checks, as upstream's options validation words them --

    def check_required(self, flags):
        errors = []
        if not flags.all("etcd-servers"):
            errors.append("--etcd-servers must be specified")
        if not flags.all("service-account-issuer"):
            errors.append("service-account-issuer is a required flag")
        if not flags.get("service-account-signing-key-file") or not flags.all("service-account-issuer"):
            errors.append("service-account-signing-key-file and service-account-issuer are required flags")
        if errors:
            fatal(errors[0] if len(errors) == 1 else "[%s]" % ", ".join(errors))

    def admission_plugins(self, flags):
        enable = flags.all("enable-admission-plugins")
        legacy = flags.all("admission-control")
        if legacy and (enable or flags.all("disable-admission-plugins")):
            fatal("[admission-control and enable-admission-plugins/disable-admission-plugins flags are mutually exclusive]")
        wanted = enable + legacy + flags.all("disable-admission-plugins")
        errors = []
        for p in wanted:
            removed = REMOVED_ADMISSION_PLUGINS.get(p)
            if (removed and minor(VERSION) >= removed) or (not removed and p not in ADMISSION_PLUGINS):
                errors.append('%s plugin "%s" is unknown' % ("enable-admission-plugins" if p not in flags.all("disable-admission-plugins") else "disable-admission-plugins", p))
        if errors:
            fatal(errors[0] if len(errors) == 1 else "[%s]" % ", ".join(errors))
        if legacy:
            return set(legacy)
        return (DEFAULT_ADMISSION_PLUGINS | set(enable)) - set(flags.all("disable-admission-plugins"))

    def authorization_modes(self, flags):
        modes = flags.all("authorization-mode") or ["AlwaysAllow"]
        for m in modes:
            if m not in ("AlwaysAllow", "AlwaysDeny", "ABAC", "Webhook", "RBAC", "Node"):
                fatal('authorization-mode "%s" is not a valid mode' % m)
            if modes.count(m) > 1:
                fatal("authorization-mode %s has mode specified more than once" % m)
        if "ABAC" in modes and not flags.get("authorization-policy-file"):
            fatal("authorization-mode ABAC's authorization policy file not passed")
        if "Webhook" in modes and not flags.get("authorization-webhook-config-file"):
            fatal("authorization-mode Webhook's authorization config file not passed")
        if "ABAC" in modes or "Webhook" in modes:
            fatal("standin: authorization modes ABAC and Webhook are not implemented by this test stand-in")
        return modes

    def service_ranges(self, flags):
        value = (flags.all("service-cluster-ip-range") or ["10.0.0.0/24"])[0]
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            fatal("service-cluster-ip-range[0] is not a valid cidr")
        if net.version == 4 and net.prefixlen < 12:
            fatal("specified --service-cluster-ip-range[0] is too large; for 32-bit addresses, the mask must be >= 12")
        ports = flags.get("service-node-port-range") or "30000-32767"
        m = re.fullmatch(r"(\d+)(?:-(\d+)|\+(\d+))?", ports)
        if not m:
            fatal('invalid argument "%s" for "--service-node-port-range" flag: unable to parse port range: %s' % (ports, ports))
        low = int(m.group(1))
        high = int(m.group(2)) if m.group(2) else low + int(m.group(3) or 0)
        return net, (low, high)

    def load_service_account_keys(self, flags, tls_key):
        self.issuers = flags.all("service-account-issuer")
        self.audiences = flags.all("api-audiences") or self.issuers
        self.signing_key = flags.get("service-account-signing-key-file")
        read_file(self.signing_key)
        if subprocess.run(["openssl", "pkey", "-in", self.signing_key, "-noout"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            fatal('failed to parse service-account-issuer-key-file "%s": data does not contain a valid RSA or ECDSA private key' % self.signing_key)
        key_files = flags.all("service-account-key-file") or [tls_key]  # upstream falls back to the serving key
        self.key_dir = private_tempdir()
        for f in key_files:
            read_file(f)
        self.public_keys = [openssl_public_key(f, self.key_dir, i) for i, f in enumerate(key_files)]
        signer_pub = openssl_public_key(self.signing_key, self.key_dir, len(key_files))
        der = subprocess.run(["openssl", "pkey", "-pubin", "-in", signer_pub, "-outform", "DER"], stdout=subprocess.PIPE).stdout
        self.kid = b64url(hashlib.sha256(der).digest())
        text = subprocess.run(["openssl", "pkey", "-pubin", "-in", signer_pub, "-text_pub", "-noout"], stdout=subprocess.PIPE).stdout
        self.alg = "ES256" if b"ASN1 OID" in text or b"NIST CURVE" in text else "RS256"

    # -- start-up hooks: what the real server writes to etcd once it can reach it --

    def run_bootstrap(self):
        while not self.bootstrapped.is_set():
            try:
                self.bootstrap()
                self.bootstrapped.set()
                log("bootstrap done: system namespaces, RBAC bootstrap roles, priority classes, service kubernetes")
            except (EtcdError, Status) as e:
                log("post-start hooks waiting for storage: %s" % e, "E")
                time.sleep(2)

    def bootstrap(self):
        for ns in SYSTEM_NAMESPACES:
            self.ensure(res("namespaces"), None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns,
                        "labels": {"kubernetes.io/metadata.name": ns}}, "spec": {"finalizers": ["kubernetes"]},
                        "status": {"phase": "Active"}})
        for resource, obj in bootstrap_rbac_objects():
            self.ensure(resource, None, obj, reconcile=True)
        for name, value in (("system-node-critical", 2000001000), ("system-cluster-critical", 2000000000)):
            self.ensure(res("priorityclasses", "scheduling.k8s.io"), None, {
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value,
                "preemptionPolicy": "PreemptLowerPriority", "description": "Used for system critical pods that must not be moved from their current node."})
        cluster_ip = str(next(self.service_range.hosts()))
        self.ensure(res("services"), "default", {"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.port}]}})
        self.reconcile_endpoints()

    def ensure(self, resource, ns, obj, reconcile=False):
        current, rev = self.load(resource, ns, obj["metadata"]["name"])
        if current is None:
            self.store_new(resource, ns, obj)
        elif reconcile and dig(current, "metadata", "annotations", "rbac.authorization.kubernetes.io/autoupdate") == "true":
            wanted = {k: v for k, v in obj.items() if k != "metadata"}
            if any(current.get(k) != v for k, v in wanted.items()):
                current.update(wanted)
                self.etcd.txn_put(self.key(resource, ns, obj["metadata"]["name"]), self.encode(resource, current), "MOD", rev)

    def reconcile_endpoints(self):
        """The `kubernetes` endpoints list every API server that has started (they share etcd)."""
        resource = res("endpoints")
        current, rev = self.load(resource, "default", "kubernetes")
        addresses = dig(current or {}, "subsets", default=[{}])[0].get("addresses", []) if current else []
        if any(a.get("ip") == self.advertise for a in addresses):
            return
        addresses = addresses + [{"ip": self.advertise}]
        obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "default",
               "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
               "subsets": [{"addresses": addresses, "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}]}]}
        if current is None:
            self.store_new(resource, "default", obj)
        else:
            obj["metadata"] = current["metadata"]
            self.etcd.txn_put(self.key(resource, "default", "kubernetes"), self.encode(resource, obj), "MOD", rev)

    # -- storage: one JSON object per key, resourceVersion = etcd's mod_revision --

    def key(self, resource, ns, name):
        return "%s/%s/%s%s" % (self.prefix, resource.plural, (ns + "/") if resource.namespaced else "", name)

    def list_key(self, resource, ns):
        return "%s/%s/%s" % (self.prefix, resource.plural, (ns + "/") if resource.namespaced and ns else "")

    @staticmethod
    def serialize(obj):
        stored = json.loads(json.dumps(obj))
        stored.get("metadata", {}).pop("resourceVersion", None)
        return json.dumps(stored, sort_keys=True, separators=(",", ":"))

    def rule_for(self, resource):
        return next((r for r in self.encryption if r.matches(resource)), None)

    def encode(self, resource, obj):
        data = self.serialize(obj).encode()
        rule = self.rule_for(resource)
        return rule.write(data) if rule else data

    def decode(self, resource, kv):
        return self.decode_stale(resource, kv)[0]

    def decode_stale(self, resource, kv):
        """The stored object, and whether its stored form is stale (see EncryptionRule.read)."""
        data = kv_value(kv)
        rule = self.rule_for(resource)
        plain, stale = rule.read(data) if rule else (data, False)
        obj = json.loads(plain)
        obj.setdefault("metadata", {})["resourceVersion"] = str(kv.get("mod_revision", "0"))
        return obj, stale

    def load_stale(self, resource, ns, name):
        kv = self.etcd.get(self.key(resource, ns, name))
        return self.decode_stale(resource, kv) + (int(kv.get("mod_revision", 0)),) if kv else (None, False, 0)

    def load(self, resource, ns, name):
        kv = self.etcd.get(self.key(resource, ns, name))
        return (self.decode(resource, kv), int(kv.get("mod_revision", 0))) if kv else (None, 0)

    def list_objects(self, resource, ns=None):
        kvs, revision = self.etcd.range_prefix(self.list_key(resource, ns))
        return [self.decode(resource, kv) for kv in kvs], revision

    def store_new(self, resource, ns, obj):
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        if resource.namespaced:
            meta["namespace"] = ns
        if "spec" in obj and resource.plural not in ("namespaces", "nodes", "services"):
            meta.setdefault("generation", 1)
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        ok, revision = self.etcd.txn_put(self.key(resource, ns, meta["name"]), self.encode(resource, obj), "CREATE", 0)
        if not ok:
            raise Status(409, "AlreadyExists", '%s "%s" already exists' % (resource.qualified, meta["name"]),
                         details(resource, meta["name"]))
        meta["resourceVersion"] = str(revision)
        self.rbac_changed(resource)
        return obj

    def store_update(self, resource, ns, name, obj, mod_revision):
        ok, revision = self.etcd.txn_put(self.key(resource, ns, name), self.encode(resource, obj), "MOD", mod_revision)
        if not ok:
            raise conflict(resource, name)
        obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
        self.rbac_changed(resource)
        return obj

    def rbac_changed(self, resource):
        if resource.group == RBAC_GROUP:
            with self.rbac_lock:
                self.rbac_cache = (0.0, None)

    # -- authentication --

    def authenticate(self, h):
        identity = h.peer_identity()
        if identity and identity[0]:
            cn, orgs = identity
            return User(cn, orgs + ["system:authenticated"])
        auth = h.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            user = self.token_user(auth[7:].strip())
            if user:
                return user
            raise Status(401, "Unauthorized", "Unauthorized")
        if not self.anonymous:
            raise Status(401, "Unauthorized", "Unauthorized")
        return ANONYMOUS

    def token_user(self, token):
        cached = self.token_cache.get(token)
        if cached and cached[0] > time.time():
            return cached[1]
        try:
            header, payload, signature = token.split(".")
            claims = json.loads(unb64url(payload))
            sig = unb64url(signature)
        except ValueError:
            return None
        if not self.signature_valid((header + "." + payload).encode(), sig):
            return None
        if claims.get("iss") not in self.issuers or claims.get("exp", 0) < time.time():
            return None
        aud = claims.get("aud") or []
        if not set([aud] if isinstance(aud, str) else aud) & set(self.audiences):
            return None
        sa = dig(claims, "kubernetes.io", default={})
        ns, name, uid = sa.get("namespace"), dig(sa, "serviceaccount", "name"), dig(sa, "serviceaccount", "uid")
        try:
            current, _ = self.load(res("serviceaccounts"), ns, name)
        except EtcdError:
            return None
        if not current or current["metadata"].get("uid") != uid:
            return None
        user = User("system:serviceaccount:%s:%s" % (ns, name),
                    ["system:serviceaccounts", "system:serviceaccounts:%s" % ns, "system:authenticated"], uid)
        self.token_cache[token] = (min(time.time() + 10, claims["exp"]), user)
        return user

    def signature_valid(self, signed, sig):
        with tempfile.NamedTemporaryFile(dir=self.key_dir) as f:
            f.write(sig)
            f.flush()
            for pub in self.public_keys:
                r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", f.name], input=signed,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if r.returncode == 0:
                    return True
        return False

    def sign_token(self, claims):
        signing_input = b64url(json.dumps({"alg": self.alg, "kid": self.kid}).encode()) + "." + b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.signing_key], input=signing_input.encode(),
                             stdout=subprocess.PIPE, check=True).stdout
        return signing_input + "." + b64url(sig)

    # -- authorization: the privileged group, then each --authorization-mode in order --

    def authorize(self, user, attrs):
        if "system:masters" in user.groups:
            return True, ""
        reasons = []
        for mode in self.authz_modes:
            if mode == "AlwaysAllow":
                return True, ""
            if mode == "AlwaysDeny":
                return False, ""
            if mode == "Node":
                decision, reason = self.node_authorize(user, attrs)
                if decision:
                    return True, ""
                if reason:
                    reasons.append(reason)
            if mode == "RBAC" and self.rbac_allows(user, attrs):
                return True, ""
        return False, ", ".join(reasons)

    def node_authorize(self, user, attrs):
        """Upstream's Node authorizer: a kubelet's identity is CN=system:node:<name>, O=system:nodes."""
        if "system:nodes" not in user.groups or not user.name.startswith("system:node:") or attrs.get("path") is not None:
            return False, ""
        node = user.name[len("system:node:"):]
        resource, verb = attrs["resource"], attrs["verb"]
        if resource in ("secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes") or (
                resource == "serviceaccounts" and attrs.get("subresource") == "token"):
            return False, "no relationship found between node '%s' and this object" % node
        if resource == "leases" and attrs["group"] == "coordination.k8s.io":
            if verb not in ("get", "create", "update", "patch", "delete"):
                return False, "can only get, create, update, patch, or delete a node lease"
            if attrs.get("namespace") != "kube-node-lease":
                return False, 'can only access leases in the "kube-node-lease" system namespace'
            if verb != "create" and attrs.get("name") != node:
                return False, "can only access node lease with the same name as the requesting node"
            return True, ""
        return any(rule_allows(r, attrs) for r in NODE_RULES), ""

    def rbac_snapshot(self):
        with self.rbac_lock:
            stamp, snap = self.rbac_cache
            if snap is not None and time.time() - stamp < 2:
                return snap
        try:
            snap = {p: self.list_objects(res(p, RBAC_GROUP))[0] for p in ("clusterroles", "clusterrolebindings", "roles", "rolebindings")}
        except EtcdError:
            snap = {p: [] for p in ("clusterroles", "clusterrolebindings", "roles", "rolebindings")}
        if not self.bootstrapped.is_set():
            # Until the bootstrap policy is stored (etcd down, or the hook still writing), it applies from memory,
            # so that health checks and cluster admins are not refused in the meantime.
            for resource, obj in bootstrap_rbac_objects():
                if not any(o["metadata"]["name"] == obj["metadata"]["name"] for o in snap[resource.plural]):
                    snap[resource.plural].append(obj)
            return snap
        with self.rbac_lock:
            self.rbac_cache = (time.time(), snap)
        return snap

    def rbac_rules(self, user, namespace):
        """Every rule bound to user: cluster-wide, and in namespace when given."""
        snap = self.rbac_snapshot()
        cluster_roles = {o["metadata"]["name"]: o.get("rules") or [] for o in snap["clusterroles"]}
        roles = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o.get("rules") or [] for o in snap["roles"]}
        rules = []
        for b in snap["clusterrolebindings"]:
            if any(subject_matches(s, user.name, user.groups) for s in b.get("subjects") or []):
                rules.extend(cluster_roles.get(dig(b, "roleRef", "name"), []))
        if namespace:
            for b in snap["rolebindings"]:
                if b["metadata"].get("namespace") != namespace:
                    continue
                if any(subject_matches(s, user.name, user.groups, namespace) for s in b.get("subjects") or []):
                    ref = b.get("roleRef") or {}
                    rules.extend(roles.get((namespace, ref.get("name")), []) if ref.get("kind") == "Role"
                                 else cluster_roles.get(ref.get("name"), []))
        return rules

    def rbac_allows(self, user, attrs):
        return any(rule_allows(r, attrs) for r in self.rbac_rules(user, attrs.get("namespace")))

    def escalation_check(self, user, resource, ns, obj):
        """RBAC's escalation prevention: you may only grant what you hold, unless you may `escalate`/`bind`."""
        if "system:masters" in user.groups or "RBAC" not in self.authz_modes:
            return
        name = obj["metadata"]["name"]
        if resource.plural in ("clusterroles", "roles"):
            if self.rbac_allows(user, {"verb": "escalate", "group": RBAC_GROUP, "resource": resource.plural, "name": name, "namespace": ns}):
                return
            rules = obj.get("rules") or []
        else:
            ref = obj.get("roleRef") or {}
            role_res = "roles" if ref.get("kind") == "Role" else "clusterroles"
            if self.rbac_allows(user, {"verb": "bind", "group": RBAC_GROUP, "resource": role_res, "name": ref.get("name"), "namespace": ns}):
                return
            role, _ = self.load(res(role_res, RBAC_GROUP), ns, ref.get("name", ""))
            rules = (role or {}).get("rules") or []
        held = self.rbac_rules(user, ns)
        missing = [r for r in rules if not self.rule_covered(r, held, ns)]
        if missing:
            text = "\n".join("{APIGroups:%s, Resources:%s, Verbs:%s}" % (json.dumps(r.get("apiGroups", [])), json.dumps(r.get("resources", [])),
                                                                       json.dumps(r.get("verbs", []))) if "nonResourceURLs" not in r
                             else "{NonResourceURLs:%s, Verbs:%s}" % (json.dumps(r["nonResourceURLs"]), json.dumps(r.get("verbs", [])))
                             for r in missing)
            raise forbidden(resource, name, 'user "%s" (groups=%s) is attempting to grant RBAC permissions not currently held:\n%s'
                            % (user.name, user.groups_text(), text))

    @staticmethod
    def rule_covered(r, held, ns):
        for verb in r.get("verbs") or []:
            if "nonResourceURLs" in r:
                for url in r["nonResourceURLs"]:
                    if not any(rule_allows(h, {"verb": verb, "path": url}) for h in held):
                        return False
                continue
            for group in r.get("apiGroups") or []:
                for resource in r.get("resources") or []:
                    base, _, sub = resource.partition("/")
                    for name in (r.get("resourceNames") or [None]):
                        attrs = {"verb": verb, "group": group, "resource": base, "subresource": sub, "name": name, "namespace": ns}
                        if not any(rule_allows(h, attrs) for h in held):
                            return False
        return True

    # -- admission (the plugins a provisioner meets) and validation --

    def admit(self, user, verb, resource, ns, name, sub, new, old):
        if "NamespaceLifecycle" in self.enabled_admission:
            if verb == "create" and resource.namespaced and self.load(res("namespaces"), None, ns)[0] is None:
                raise not_found(res("namespaces"), ns)
            if verb == "delete" and resource.plural == "namespaces" and name in ("default", "kube-system", "kube-public"):
                raise forbidden(resource, name, "this namespace may not be deleted")
        if "NodeRestriction" in self.enabled_admission and "system:nodes" in user.groups and user.name.startswith("system:node:"):
            self.node_restriction(user.name[len("system:node:"):], verb, resource, ns, name, new, old)
        if "TaintNodesByCondition" in self.enabled_admission and verb == "create" and resource.plural == "nodes":
            taints = new.setdefault("spec", {}).setdefault("taints", [])
            if not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints):
                taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})

    def node_restriction(self, node, verb, resource, ns, name, new, old):
        if resource.plural == "nodes" and resource.group == "":
            if name != node:
                raise forbidden(resource, name, 'node "%s" is not allowed to modify node "%s"' % (node, name))
            labels = dig(new or {}, "metadata", "labels", default={}) or {}
            old_labels = dig(old or {}, "metadata", "labels", default={}) or {}
            changed = sorted(k for k in labels if labels[k] != old_labels.get(k) and not kubelet_may_set_label(k))
            if verb == "create" and changed:
                raise forbidden(resource, name, 'node "%s" is not allowed to set the following labels: %s' % (node, ", ".join(changed)))
            if verb in ("update", "patch") and old is not None:
                if changed:
                    raise forbidden(resource, name, 'node "%s" is not allowed to modify labels: %s' % (node, ", ".join(changed)))
                if dig(new, "spec", "taints") != dig(old, "spec", "taints"):
                    raise forbidden(resource, name, 'node "%s" is not allowed to modify taints' % node)
        if resource.plural == "leases" and resource.group == "coordination.k8s.io":
            if ns != "kube-node-lease" or name != node:
                raise forbidden(resource, name, "can only access node lease with the same name as the requesting node")

    def validate(self, resource, ns, name, obj, old):
        problems = []
        reason = name_problem(resource, name)
        if reason:
            problems.append('metadata.name: Invalid value: "%s": %s' % (name, reason))
        problems += label_problems(dig(obj, "metadata", "labels"))
        if resource.plural == "nodes":
            problems += taint_problems(dig(obj, "spec", "taints"))
            old_cidr = dig(old or {}, "spec", "podCIDR")
            if old_cidr and dig(obj, "spec", "podCIDR") != old_cidr:
                problems.append('spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid')
        if resource.group == RBAC_GROUP and resource.plural.endswith("bindings"):
            if not dig(obj, "roleRef", "name"):
                problems.append("roleRef.name: Required value")
            elif old is not None and obj.get("roleRef") != old.get("roleRef"):
                problems.append("roleRef: Invalid value: %s: cannot change roleRef" % json.dumps(obj.get("roleRef")))
        if resource.plural == "services":
            problems += self.allocate_service(ns, name, obj, old)
        if problems:
            raise invalid(resource, name, problems)

    def allocate_service(self, ns, name, svc, old):
        spec = svc.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if spec["type"] == "ExternalName":
            return []
        others = [s for s in self.list_objects(res("services"))[0]
                  if (s["metadata"].get("namespace"), s["metadata"]["name"]) != (ns, name)]
        problems = []
        if old is not None and not spec.get("clusterIP"):
            spec["clusterIP"] = dig(old, "spec", "clusterIP")
        ip = spec.get("clusterIP")
        taken = {dig(s, "spec", "clusterIP") for s in others}
        if ip and ip != "None":
            try:
                inside = ipaddress.ip_address(ip) in self.service_range
            except ValueError:
                inside = False
            if not inside:
                problems.append('spec.clusterIPs: Invalid value: []string{"%s"}: failed to allocate IP %s: the provided IP (%s) is not '
                                'in the valid range. The range of valid IPs is %s' % (ip, ip, ip, self.service_range))
            elif ip in taken and (old is None or dig(old, "spec", "clusterIP") != ip):
                problems.append('spec.clusterIPs: Invalid value: []string{"%s"}: failed to allocate IP %s: provided IP is already allocated'
                                % (ip, ip))
        elif not ip:
            hosts = list(self.service_range.hosts())[1:]
            free = [str(h) for h in hosts if str(h) not in taken]
            if not free:
                problems.append("spec.clusterIPs: Internal error: failed to allocate a serviceIP: range is full")
            else:
                spec["clusterIP"] = random.choice(free[len(free) // 2:] or free)
        if spec.get("clusterIP"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        if spec["type"] in ("NodePort", "LoadBalancer"):
            low, high = self.node_ports
            used = {p.get("nodePort") for s in others for p in dig(s, "spec", "ports", default=[]) or []}
            for i, p in enumerate(spec.get("ports") or []):
                port = p.get("nodePort")
                if port and not low <= port <= high:
                    problems.append("spec.ports[%d].nodePort: Invalid value: %d: provided port is not in the valid range. "
                                    "The range of valid ports is %d-%d" % (i, port, low, high))
                elif port and port in used:
                    problems.append("spec.ports[%d].nodePort: Invalid value: %d: provided port is already allocated" % (i, port))
                elif not port:
                    p["nodePort"] = random.choice([x for x in range(low, high + 1) if x not in used])
        return problems

    # -- HTTP --

    def serve(self, h, method):
        url = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        try:
            user = self.authenticate(h)
            req = self.parse(method, url.path, query)
            allowed, reason = self.authorize(user, req)
            if not allowed:
                raise self.forbidden_for(user, req, reason)
            if req.get("path") is not None:
                return self.non_resource(h, req, query)
            result = self.resource_request(h, user, req, query)
            if result:  # None: the kubelet proxy has replied already
                h.reply_json(*result)
        except Status as s:
            h.reply_json(s.code, s.body())
        except EtcdError as e:
            h.reply_json(500, Status(500, "InternalError", "Internal error occurred: %s" % e).body())

    def parse(self, method, path, query):
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            rest = []
        if not rest:
            return {"verb": verb, "path": path.rstrip("/") or "/"}
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            ns, rest = rest[1], rest[2:]
        plural, name = rest[0], rest[1] if len(rest) > 1 else None
        sub, extra = (rest[2] if len(rest) > 2 else None), "/".join(rest[3:])
        if plural == "subjectaccessreviews" and group == "authorization.k8s.io":
            return {"verb": verb, "group": group, "resource": plural, "virtual": True, "name": None, "namespace": None}
        resource = resource_by_path(group, version, plural)
        if resource is None:
            raise Status(404, "NotFound", "the server could not find the requested resource")
        if verb == "get" and not name:
            verb = "watch" if query.get("watch") in ("1", "true") else "list"
        if verb == "delete" and not name:
            verb = "deletecollection"
        if resource.plural == "namespaces" and name:
            ns = name
        return {"verb": verb, "group": group, "resource": plural, "subresource": sub, "name": name, "namespace": ns,
                "res": resource, "extra": extra}

    def forbidden_for(self, user, req, reason):
        if req.get("path") is not None:
            return Status(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"' % (user.name, req["verb"], req["path"]))
        what = req["resource"] + ("/" + req["subresource"] if req.get("subresource") else "")
        where = ' in the namespace "%s"' % req["namespace"] if req.get("namespace") else " at the cluster scope"
        msg = 'User "%s" cannot %s resource "%s" in API group "%s"%s' % (user.name, req["verb"], what, req["group"], where)
        resource = req.get("res") or Resource(req["group"], "v1", "", req["resource"], False)
        return forbidden(resource, req.get("name"), msg + (": " + reason if reason else ""))

    def health_checks(self, ready):
        checks = [("ping", None), ("log", None)]
        try:
            self.etcd.get(self.prefix + "/health")
            checks.append(("etcd", None))
        except EtcdError as e:
            log("etcd check failed: %s" % e, "E")
            checks.append(("etcd", "error getting data from etcd: %s" % e))
        if ready:
            checks.append(("etcd-readiness", checks[-1][1]))
        booted = None if self.bootstrapped.is_set() else "not finished"
        checks += [("poststarthook/start-system-namespaces-controller", booted), ("poststarthook/rbac/bootstrap-roles", booted),
                   ("poststarthook/scheduling/bootstrap-system-priority-classes", booted)]
        if ready:
            checks.append(("shutdown", None))
        return checks

    def non_resource(self, h, req, query):
        path = req["path"]
        verbose = "verbose" in query
        if path in ("/healthz", "/readyz"):
            code, body = health_body(self.health_checks(path == "/readyz"), path[1:], verbose)
            return h.reply(code, body)
        if path == "/livez":
            return h.reply(*health_body([("ping", None), ("log", None)], "livez", verbose))
        if path == "/version":
            m = re.match(r"v(\d+)\.(\d+)", VERSION)
            return h.reply_json(200, {"major": m.group(1), "minor": m.group(2), "gitVersion": VERSION, "gitCommit": "standin",
                                      "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "standin",
                                      "compiler": "gc", "platform": "linux/amd64"})
        if path == "/api":
            return h.reply_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": join_host_port(self.advertise, self.port)}]})
        if path == "/apis":
            groups = sorted({r.group for r in RESOURCES if r.group})
            return h.reply_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": g + "/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": g + "/v1", "version": "v1"}} for g in groups]})
        m = re.fullmatch(r"/api/(v1)|/apis/([^/]+)/([^/]+)", path)
        if m:
            group, version = (m.group(2) or ""), (m.group(1) or m.group(3))
            listed = [r for r in RESOURCES if r.group == group and r.version == version]
            if listed:
                return h.reply_json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": listed[0].api_version,
                                          "resources": [{"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                                                         "kind": r.kind, "shortNames": list(r.short),
                                                         "verbs": ["create", "delete", "get", "list", "patch", "update"]} for r in listed]})
        return h.reply(404, "404 page not found\n")

    def resource_request(self, h, user, req, query):
        if req.get("virtual"):
            return self.subject_access_review(json.loads(h.read_body() or b"{}"))
        resource, ns, name, sub, verb = req["res"], req["namespace"], req["name"], req["subresource"], req["verb"]
        if resource.namespaced and not ns and verb not in ("list", "watch"):
            raise Status(404, "NotFound", "the server could not find the requested resource")
        if verb == "watch":
            raise Status(405, "MethodNotAllowed", "watch is not supported by this test stand-in; poll with list instead")
        if verb == "list":
            return 200, self.list_response(resource, ns, query)
        if sub == "proxy" and resource.plural == "nodes":
            return self.proxy_to_kubelet(h, name, req["extra"], query)
        if sub == "token" and resource.plural == "serviceaccounts" and verb == "create":
            return self.token_request(resource, ns, name, json.loads(h.read_body() or b"{}"))
        if sub not in (None, "status"):
            raise Status(404, "NotFound", "the server could not find the requested resource")
        if verb == "get":
            obj, _ = self.load(resource, ns, name)
            if obj is None:
                raise not_found(resource, name)
            return 200, obj
        if verb == "create":
            return self.create(user, resource, ns, self.parse_body(h, resource))
        if verb == "delete":
            return self.delete(user, resource, ns, name)
        if verb == "deletecollection":
            raise Status(405, "MethodNotAllowed", "deletecollection is not supported by this test stand-in")
        return self.update(user, resource, ns, name, sub, verb, h)

    def parse_body(self, h, resource):
        raw = h.read_body()
        try:
            obj = json.loads(raw) if raw.strip().startswith(b"{") else load_yaml(raw.decode())
        except ValueError as e:
            raise bad_request("the body of the request was in an unknown format: %s" % e)
        if not isinstance(obj, dict):
            raise bad_request("the body of the request was in an unknown format")
        if obj.get("kind") and obj.get("kind") != resource.kind:
            raise bad_request("the kind in the data (%s) does not match the expected kind (%s)" % (obj.get("kind"), resource.kind))
        return obj

    def list_response(self, resource, ns, query):
        items, revision = self.list_objects(resource, ns)
        selector = query.get("labelSelector")
        if selector:
            items = [i for i in items if selector_matches(selector, dig(i, "metadata", "labels", default={}) or {})]
        field = query.get("fieldSelector")
        if field:
            items = [i for i in items if field_selector_matches(field, i)]
        return {"kind": resource.kind + "List", "apiVersion": resource.api_version, "metadata": {"resourceVersion": str(revision)},
                "items": items}

    def create(self, user, resource, ns, obj):
        meta = obj.setdefault("metadata", {})
        if resource.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        name = meta.get("name")
        if not name:
            raise invalid(resource, "", ["metadata.name: Required value: name or generateName is required"])
        for k in ("resourceVersion", "uid", "creationTimestamp", "selfLink"):
            meta.pop(k, None)
        self.admit(user, "create", resource, ns, name, None, obj, None)
        if resource.group == RBAC_GROUP:
            self.escalation_check(user, resource, ns, obj)
        if resource.plural == "namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        self.validate(resource, ns, name, obj, None)
        return 201, self.store_new(resource, ns, obj)

    def update(self, user, resource, ns, name, sub, verb, h):
        if verb == "update":
            body = self.parse_body(h, resource)
        else:
            ctype, raw = (h.headers.get("Content-Type") or "").split(";")[0].strip(), h.read_body()
        for _ in range(5):  # a patch is re-applied to a fresh read when another writer won the race
            old, stale, revision = self.load_stale(resource, ns, name)
            if old is None:
                raise not_found(resource, name)
            new = json.loads(json.dumps(body)) if verb == "update" else self.apply_patch(ctype, raw, old)
            if dig(new, "metadata", "resourceVersion") not in (None, "", str(revision)):
                raise conflict(resource, name)
            new["apiVersion"], new["kind"] = resource.api_version, resource.kind
            meta = new.setdefault("metadata", {})
            for k in ("uid", "creationTimestamp", "namespace", "name"):
                if k in old["metadata"]:
                    meta[k] = old["metadata"][k]
            if sub == "status":  # the status subresource changes status (and metadata), never spec
                if "spec" in old:
                    new["spec"] = old["spec"]
                else:
                    new.pop("spec", None)
            elif "status" in old:
                new["status"] = old["status"]
            if self.serialize(new) == self.serialize(old) and not stale:
                return 200, old
            if "spec" in new and new.get("spec") != old.get("spec") and "generation" in meta:
                meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
            self.admit(user, verb, resource, ns, name, sub, new, old)
            if resource.group == RBAC_GROUP:
                self.escalation_check(user, resource, ns, new)
            self.validate(resource, ns, name, new, old)
            try:
                return 200, self.store_update(resource, ns, name, new, revision)
            except Status as s:
                if s.code != 409 or verb == "update":
                    raise
        raise conflict(resource, name)

    @staticmethod
    def apply_patch(ctype, raw, old):
        try:
            patch = json.loads(raw)
        except ValueError as e:
            raise bad_request("the body of the request was in an unknown format: %s" % e)
        if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            # strategic merge is approximated by a JSON merge patch: lists are replaced, not merged by key
            return merge_patch(old, patch)
        if ctype == "application/json-patch+json":
            try:
                return json_patch(old, patch)
            except (KeyError, IndexError, ValueError) as e:
                raise Status(422, "Invalid", "the server rejected our request due to an error in our request: %s" % e)
        raise Status(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - accepted media types '
                     'include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json')

    def delete(self, user, resource, ns, name):
        old, revision = self.load(resource, ns, name)
        if old is None:
            raise not_found(resource, name)
        self.admit(user, "delete", resource, ns, name, None, None, old)
        if not self.etcd.txn_delete(self.key(resource, ns, name), revision):
            raise conflict(resource, name)
        if resource.plural == "namespaces":
            for r in RESOURCES:
                if r.namespaced:
                    self.etcd.delete_prefix(self.list_key(r, name))
        self.rbac_changed(resource)
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": dict(details(resource, name), uid=old["metadata"].get("uid"))}

    def token_request(self, resource, ns, name, body):
        sa, _ = self.load(resource, ns, name)
        if sa is None:
            raise not_found(resource, name)
        seconds = int(dig(body, "spec", "expirationSeconds", default=3600) or 3600)
        now = int(time.time())
        audiences = dig(body, "spec", "audiences") or self.audiences
        claims = {"aud": audiences, "exp": now + seconds, "iat": now, "nbf": now, "iss": self.issuers[0],
                  "sub": "system:serviceaccount:%s:%s" % (ns, name),
                  "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name, "uid": sa["metadata"]["uid"]}}}
        token = self.sign_token(claims)
        expiry = datetime.datetime.fromtimestamp(now + seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {"name": name, "namespace": ns},
                     "spec": {"audiences": audiences, "expirationSeconds": seconds},
                     "status": {"token": token, "expirationTimestamp": expiry}}

    def subject_access_review(self, body):
        spec = body.get("spec") or {}
        user = User(spec.get("user", ""), spec.get("groups") or [])
        ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if ra:
            attrs = {"verb": ra.get("verb", ""), "group": ra.get("group", ""), "resource": ra.get("resource", ""),
                     "subresource": ra.get("subresource", ""), "name": ra.get("name"), "namespace": ra.get("namespace")}
        else:
            attrs = {"verb": (nra or {}).get("verb", ""), "path": (nra or {}).get("path", "")}
        allowed, reason = self.authorize(user, attrs)
        body["status"] = {"allowed": allowed}
        if reason:
            body["status"]["reason"] = reason
        body.setdefault("metadata", {})["creationTimestamp"] = None
        return 201, body

    def proxy_to_kubelet(self, h, node_name, path, query):
        node, _ = self.load(res("nodes"), None, node_name)
        if node is None:
            raise not_found(res("nodes"), node_name)
        addresses = dig(node, "status", "addresses", default=[]) or []
        ip = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), None)
        port = dig(node, "status", "daemonEndpoints", "kubeletEndpoint", "Port", default=10250)
        if not ip:
            raise Status(503, "ServiceUnavailable", "no preferred addresses found; known addresses: []")
        ca = self.flags.get("kubelet-certificate-authority")
        ctx = client_context(ca_file=ca, cert_file=self.flags.get("kubelet-client-certificate"),
                             key_file=self.flags.get("kubelet-client-key"), insecure=not ca)
        target = "/" + path + ("?" + urllib.parse.urlencode(query) if query else "")
        try:
            status, headers, data = https_request(ctx, ip, port, "GET", target, timeout=10)
        except NetError as e:
            raise Status(503, "ServiceUnavailable", "error trying to reach service: %s" % e.cause)
        h.reply(status, data, headers.get("content-type", "text/plain"))


def selector_matches(selector, labels):
    for term in [t.strip() for t in selector.split(",") if t.strip()]:
        m = re.fullmatch(r"([^!=\s]+)\s*(==|=|!=)\s*(\S*)", term)
        if m:
            key, op, value = m.groups()
            if (op == "!=") == (labels.get(key) == value):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_selector_matches(selector, obj):
    for term in [t.strip() for t in selector.split(",") if t.strip()]:
        m = re.fullmatch(r"([^!=]+)(==|=|!=)(.*)", term)
        if not m:
            continue
        path, op, value = m.groups()
        actual = dig(obj, *path.split("."))
        if (op == "!=") == (str(actual if actual is not None else "") == value):
            return False
    return True


def first_host_ip():
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.decode()
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
        if m:
            return m.group(1)
    except OSError:
        pass
    return "127.0.0.1"


def run_apiserver(flags):
    api = ApiServer(flags)
    Server(api.bind, api.port, api, api.ctx)
    log("kube-apiserver %s serving securely on %s (etcd %s, prefix %s, authorization %s)" % (
        VERSION, join_host_port(api.bind, api.port), ",".join(api.etcd.endpoints), api.prefix, ",".join(api.authz_modes)))
    sd_notify_ready()  # once serving, not once ready: upstream notifies before etcd answers too
    threading.Thread(target=api.run_bootstrap, daemon=True).start()
    return wait_for_signal()



def kubelet_may_set_label(key):
    """The labels a kubelet may set on its Node (kubelet --node-labels validation and NodeRestriction agree)."""
    prefix = key.rpartition("/")[0]
    if not (prefix == "kubernetes.io" or prefix.endswith(".kubernetes.io") or prefix == "k8s.io" or prefix.endswith(".k8s.io")):
        return True
    if prefix in ("kubelet.kubernetes.io", "node.kubernetes.io") or prefix.endswith(".kubelet.kubernetes.io") or prefix.endswith(".node.kubernetes.io"):
        return True
    return key in KUBELET_LABELS


KUBELET_LABELS = (
    "beta.kubernetes.io/arch", "beta.kubernetes.io/instance-type", "beta.kubernetes.io/os",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone", "kubernetes.io/arch",
    "kubernetes.io/hostname", "kubernetes.io/os", "node.kubernetes.io/instance-type", "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
)


def sd_notify_ready():
    """What the real kube-apiserver, kubelet and flanneld (and etcd) do for a Type=notify unit."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(address)
            s.sendall(b"READY=1")
    except OSError as e:
        log("failed to notify systemd: %s" % e, "W")


def wait_for_signal():
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    log("received SIGTERM, shutting down")
    return 0


# ---------------------------------------------------------------------------------------------------
# kubectl: the commands a provisioner uses, with upstream's output and error wording
# ---------------------------------------------------------------------------------------------------

class KubectlError(Exception):
    """Printed as is (already `error: ...` or `Error from server ...`), exit status 1."""


def server_error(e, action=None):
    if isinstance(e, ApiError):
        if e.status == 401:
            return KubectlError("error: You must be logged in to the server (Unauthorized)")
        if e.status >= 500 and not e.body:
            return KubectlError('Error from server (%s): an error on the server ("%s") has prevented the request from succeeding'
                                % (e.reason, e.text.strip().replace("\n", "\\n")))
        return KubectlError("Error from server (%s): %s%s" % (e.reason, action + ": " if action else "", e.message))
    if isinstance(e, NetError):
        m = re.search(r"dial tcp (\S+): connect: connection refused", e.cause)
        if m:
            return KubectlError("The connection to the server %s was refused - did you specify the right host or port?" % m.group(1))
        return KubectlError("Unable to connect to the server: %s" % e.cause)
    return KubectlError("error: %s" % e)


class Kubectl:
    def __init__(self, flags):
        self.flags = flags
        path = flags.get("kubeconfig") or os.environ.get("KUBECONFIG", "").split(":")[0] or os.path.expanduser("~/.kube/config")
        self.client = None
        self.kubeconfig = path if os.path.exists(path) or flags.get("kubeconfig") or os.environ.get("KUBECONFIG") else None
        self.out = sys.stdout

    def api(self):
        if self.client is None:
            try:
                self.client = KubeClient(self.kubeconfig, server=self.flags.get("server"), context=self.flags.get("context"),
                                         user_agent="kubectl/%s (linux/amd64) standin" % VERSION)
            except Fatal as e:
                raise KubectlError("error: %s" % e)
        return self.client

    def namespace(self):
        return self.flags.get("namespace") or self.api().namespace

    def run(self, args):
        if not args:
            raise KubectlError("error: you must specify a command (kubectl help lists them)")
        command, rest = args[0], args[1:]
        handler = {"version": self.version, "get": self.get, "apply": self.apply, "create": self.create, "delete": self.delete,
                   "label": self.label, "taint": self.taint, "replace": self.replace}.get(command)
        if handler is None:
            raise KubectlError('error: unknown command "%s" for "kubectl" (this test stand-in implements version, get, apply, '
                               'create, replace, delete, label, taint)' % command)
        return handler(rest)

    def print_obj(self, obj, fmt):
        if fmt == "json":
            self.out.write(json.dumps(obj, indent=4, sort_keys=False) + "\n")
        elif fmt == "yaml":
            self.out.write(dump_yaml(obj))
        else:
            raise KubectlError('error: unable to match a printer suitable for the output format "%s", allowed formats are: '
                               'json,name,wide,yaml' % fmt)

    def version(self, args):
        client = {"major": str(int(VERSION.split(".")[0].lstrip("v"))), "minor": str(minor(VERSION)), "gitVersion": VERSION,
                  "platform": "linux/amd64"}
        result = {"clientVersion": client, "kustomizeVersion": "v5.7.1"}
        if not self.flags.bool("client"):
            try:
                result["serverVersion"] = self.api().get("/version")
            except (ApiError, NetError) as e:
                if self.flags.get("output") in ("json", "yaml"):
                    self.print_obj(result, self.flags.get("output"))
                raise server_error(e)
        fmt = self.flags.get("output")
        if fmt in ("json", "yaml"):
            self.print_obj(result, fmt)
            return 0
        self.out.write("Client Version: %s\nKustomize Version: v5.7.1\n" % VERSION)
        if "serverVersion" in result:
            self.out.write("Server Version: %s\n" % result["serverVersion"]["gitVersion"])
        return 0

    # -- get --

    def get(self, args):
        if self.flags.get("raw"):
            try:
                body = self.api().request("GET", self.flags.get("raw"), raw=True)
            except (ApiError, NetError) as e:
                raise server_error(e)
            self.out.write(body if body.endswith("\n") or not body else body)
            return 0
        if not args:
            raise KubectlError("error: Required resource not specified.")
        targets = []
        if "/" in args[0]:
            for a in args:
                kind, _, name = a.partition("/")
                targets.append((self.lookup(kind), [name]))
        else:
            for kind in args[0].split(","):
                targets.append((self.lookup(kind), args[1:]))
        fmt = self.flags.get("output") or ""
        all_ns = self.flags.bool("all-namespaces")
        objects, errors = [], []
        for resource, names in targets:
            ns = None if all_ns else self.namespace()
            try:
                if names:
                    for name in names:
                        try:
                            objects.append((resource, self.api().get(api_path(resource, ns, name))))
                        except ApiError as e:
                            if e.status == 404 and self.flags.bool("ignore-not-found"):
                                continue
                            errors.append(server_error(e))
                else:
                    path = api_path(resource, ns)
                    if self.flags.get("selector"):
                        path += "?labelSelector=" + urllib.parse.quote(self.flags.get("selector"))
                    listed = self.api().get(path)
                    objects.extend((resource, dict(i, apiVersion=resource.api_version, kind=resource.kind)) for i in listed.get("items", []))
            except (ApiError, NetError) as e:
                raise server_error(e)
        single = len(targets) == 1 and len(targets[0][1]) == 1
        if fmt in ("json", "yaml"):
            if single and objects:
                self.print_obj(objects[0][1], fmt)
            elif objects or not errors:
                self.print_obj({"apiVersion": "v1", "items": [o for _, o in objects], "kind": "List", "metadata": {"resourceVersion": ""}}, fmt)
        elif fmt == "name":
            for resource, obj in objects:
                self.out.write("%s/%s\n" % (resource.kind_qualified, obj["metadata"]["name"]))
        elif fmt in ("", "wide"):
            if not objects and not errors:
                where = " in %s namespace" % self.namespace() if targets[0][0].namespaced and not all_ns else ""
                sys.stderr.write("No resources found%s.\n" % where)
            self.print_table(objects, fmt == "wide", all_ns)
        else:
            raise KubectlError('error: unable to match a printer suitable for the output format "%s", allowed formats are: '
                               'json,name,wide,yaml' % fmt)
        for e in errors:
            sys.stderr.write(str(e) + "\n")
        return 1 if errors else 0

    def lookup(self, kind):
        resource = resource_by_name(kind)
        if resource is None:
            raise KubectlError('error: the server doesn\'t have a resource type "%s"' % kind)
        return resource

    def print_table(self, objects, wide, all_ns):
        if not objects:
            return
        rows = []
        for resource, obj in objects:
            meta = obj.get("metadata", {})
            row = [meta.get("namespace", "")] if all_ns and resource.namespaced else []
            row.append(meta.get("name", ""))
            if resource.plural == "nodes":
                row += node_columns(obj, wide)
            else:
                row.append(age(meta.get("creationTimestamp")))
            rows.append(row)
        resource = objects[0][0]
        header = (["NAMESPACE"] if all_ns and resource.namespaced else []) + ["NAME"]
        header += (["STATUS", "ROLES", "AGE", "VERSION"] + (["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"] if wide else [])
                   if resource.plural == "nodes" else ["AGE"])
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        for r in [header] + rows:
            self.out.write("   ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip() + "\n")

    # -- apply / create / delete --

    def read_manifests(self):
        files = self.flags.all("filename")
        if not files:
            raise KubectlError("error: must specify one of -f and -k")
        docs = []
        for f in files:
            paths = [f]
            if f != "-" and os.path.isdir(f):
                paths = sorted(os.path.join(f, n) for n in os.listdir(f) if n.endswith((".yaml", ".yml", ".json")))
            for p in paths:
                try:
                    text = sys.stdin.read() if p == "-" else open(p).read()
                except OSError as e:
                    raise KubectlError('error: the path "%s" does not exist' % p if e.errno == 2 else "error: %s" % e)
                try:
                    loaded = load_yaml_all(text)
                except Exception as e:  # yaml.YAMLError without importing yaml here
                    raise KubectlError('error: error parsing %s: %s' % (p, e))
                for d in loaded:
                    items = d.get("items", []) if isinstance(d, dict) and d.get("kind", "").endswith("List") else [d]
                    docs.extend((p, i) for i in items if isinstance(i, dict))
        return docs

    def manifest_target(self, source, obj):
        meta = obj.get("metadata") or {}
        resource = resource_by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if resource is None:
            raise KubectlError('error: resource mapping not found for name: "%s" namespace: "%s" from "%s": no matches for kind "%s" '
                               'in version "%s"\nensure CRDs are installed first' % (meta.get("name", ""), meta.get("namespace", ""),
                                                                                    source, obj.get("kind"), obj.get("apiVersion")))
        ns = None
        if resource.namespaced:
            ns = meta.get("namespace") or self.namespace()
            if self.flags.get("namespace") and meta.get("namespace") and meta["namespace"] != self.flags.get("namespace"):
                raise KubectlError('error: the namespace from the provided object "%s" does not match the namespace "%s". '
                                   "You must pass '--namespace=%s' to perform this operation." % (meta["namespace"], self.flags.get("namespace"), meta["namespace"]))
            meta["namespace"] = ns
        return resource, ns, meta.get("name")

    def apply(self, args):
        status = 0
        for source, obj in self.read_manifests():
            resource, ns, name = self.manifest_target(source, obj)
            applied = json.loads(json.dumps(obj))
            annotations = applied.setdefault("metadata", {}).setdefault("annotations", {})
            annotations.pop(LAST_APPLIED, None)
            last = json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"
            annotations[LAST_APPLIED] = last
            try:
                live = self.api().get(api_path(resource, ns, name))
            except ApiError as e:
                if e.status != 404:
                    status = self.report(server_error(e, 'error when retrieving current configuration of:\nResource: "%s", Name: "%s", '
                                                      'Namespace: "%s"\nfrom server for: "%s"' % (resource.qualified, name, ns or "", source)))
                    continue
                live = None
            except NetError as e:
                raise server_error(e)
            what = "%s/%s" % (resource.kind_qualified, name)
            try:
                if live is None:
                    self.api().post(api_path(resource, ns), applied)
                    self.out.write("%s created\n" % what)
                    continue
                previous = dig(live, "metadata", "annotations", LAST_APPLIED)
                patch = three_way_patch(json.loads(previous) if previous else {}, applied)
                result = self.api().patch(api_path(resource, ns, name), patch)
                changed = dig(result, "metadata", "resourceVersion") != dig(live, "metadata", "resourceVersion")
                self.out.write("%s %s\n" % (what, "configured" if changed else "unchanged"))
            except ApiError as e:
                status = self.report(server_error(e, 'error when %s "%s"' % ("creating" if live is None else "patching", source)))
            except NetError as e:
                raise server_error(e)
        return status

    def replace(self, args):
        """Each object written back as given (a PUT with its resourceVersion): what rewrites stored objects, e.g. after an encryption change."""
        status = 0
        for source, obj in self.read_manifests():
            resource, ns, name = self.manifest_target(source, obj)
            try:
                self.api().put(api_path(resource, ns, name), obj)
                self.out.write("%s/%s replaced\n" % (resource.kind_qualified, name))
            except ApiError as e:
                status = self.report(server_error(e, 'error when replacing "%s"' % source))
            except NetError as e:
                raise server_error(e)
        return status

    def report(self, error):
        sys.stderr.write(str(error) + "\n")
        return 1

    def create(self, args):
        if not args:
            return self.create_from_files()
        kind, rest = args[0], args[1:]
        if kind == "clusterrolebinding":
            if not rest:
                raise KubectlError("error: exactly one NAME is required, got 0")
            if not self.flags.get("clusterrole"):
                raise KubectlError('error: required flag(s) "clusterrole" not set')
            subjects = [subject("User", u) for u in self.flags.all("user")] + [subject("Group", g) for g in self.flags.all("group")]
            for sa in self.flags.all("serviceaccount"):
                ns, _, name = sa.partition(":")
                if not name:
                    raise KubectlError("error: serviceaccount must be <namespace>:<name>")
                subjects.append(subject("ServiceAccount", name, ns))
            body = {"apiVersion": RBAC_GROUP + "/v1", "kind": "ClusterRoleBinding", "metadata": {"name": rest[0]},
                    "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": self.flags.get("clusterrole")}}
            if subjects:
                body["subjects"] = subjects
            return self.create_one(res("clusterrolebindings", RBAC_GROUP), None, body, "clusterrolebinding")
        if kind in ("namespace", "ns"):
            if not rest:
                raise KubectlError("error: exactly one NAME is required, got 0")
            return self.create_one(res("namespaces"), None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": rest[0]}}, "namespace")
        raise KubectlError('error: unknown create subcommand "%s" (this test stand-in implements clusterrolebinding, namespace, -f)' % kind)

    def create_one(self, resource, ns, body, what):
        try:
            created = self.api().post(api_path(resource, ns), body)
        except ApiError as e:
            raise KubectlError("error: failed to create %s: %s" % (what, e.message)) if e.status == 409 else server_error(e)
        except NetError as e:
            raise server_error(e)
        if self.flags.get("output") in ("json", "yaml"):
            self.print_obj(created, self.flags.get("output"))
        else:
            self.out.write("%s/%s created\n" % (resource.kind_qualified, body["metadata"]["name"]))
        return 0

    def create_from_files(self):
        status = 0
        for source, obj in self.read_manifests():
            resource, ns, name = self.manifest_target(source, obj)
            try:
                self.api().post(api_path(resource, ns), obj)
                self.out.write("%s/%s created\n" % (resource.kind_qualified, name))
            except ApiError as e:
                status = self.report(server_error(e, 'error when creating "%s"' % source))
            except NetError as e:
                raise server_error(e)
        return status

    def delete(self, args):
        targets = []
        if self.flags.all("filename"):
            targets = [self.manifest_target(src, obj) for src, obj in self.read_manifests()]
        elif args and "/" in args[0]:
            for a in args:
                kind, _, name = a.partition("/")
                r = self.lookup(kind)
                targets.append((r, self.namespace() if r.namespaced else None, name))
        elif len(args) >= 2:
            r = self.lookup(args[0])
            targets = [(r, self.namespace() if r.namespaced else None, n) for n in args[1:]]
        else:
            raise KubectlError("error: resource(s) were provided, but no name was specified" if args else
                               "error: You must provide one or more resources by argument or filename.")
        status = 0
        for resource, ns, name in targets:
            try:
                self.api().delete(api_path(resource, ns, name))
                self.out.write('%s "%s" deleted\n' % (resource.kind_qualified, name))
            except ApiError as e:
                if not (e.status == 404 and self.flags.bool("ignore-not-found")):
                    status = self.report(server_error(e))
            except NetError as e:
                raise server_error(e)
        return status

    # -- label / taint: read, then patch what changes (no resourceVersion precondition, as upstream's kubectl) --

    def node_target(self, args, verb):
        if len(args) < 2:
            raise KubectlError("error: one or more resources must be specified as <resource> <name> or <resource>/<name>" if verb == "label"
                               else "error: at least one taint update is required")
        resource = self.lookup(args[0].split("/")[0])
        if "/" in args[0]:
            return resource, args[0].split("/", 1)[1], args[1:]
        return resource, args[1], args[2:]

    def fetch(self, resource, name):
        ns = self.namespace() if resource.namespaced else None
        try:
            return ns, self.api().get(api_path(resource, ns, name))
        except (ApiError, NetError) as e:
            raise server_error(e)

    def label(self, args):
        resource, name, changes = self.node_target(args, "label")
        ns, obj = self.fetch(resource, name)
        labels = dict(dig(obj, "metadata", "labels", default={}) or {})
        patch_labels = {}
        for change in changes:
            if change.endswith("-") and "=" not in change:
                if change[:-1] in labels:
                    patch_labels[change[:-1]] = None
                continue
            key, sep, value = change.partition("=")
            if not sep:
                raise KubectlError("error: at least one label update is required")
            if key in labels and labels[key] != value and not self.flags.bool("overwrite"):
                raise KubectlError("error: '%s' already has a value (%s), and --overwrite is false" % (key, labels[key]))
            if labels.get(key) != value:
                patch_labels[key] = value
        what = "%s/%s" % (resource.kind_qualified, name)
        if not patch_labels:
            self.out.write("%s not labeled\n" % what)
            return 0
        body = {"metadata": {"labels": patch_labels}}
        try:
            self.api().patch(api_path(resource, ns, name), body)
        except (ApiError, NetError) as e:
            raise server_error(e)
        self.out.write("%s %s\n" % (what, "unlabeled" if all(v is None for v in patch_labels.values()) else "labeled"))
        return 0

    def taint(self, args):
        resource, name, specs = self.node_target(args, "taint")
        if resource.plural != "nodes":
            raise KubectlError('error: invalid resource type %s, only node types are supported' % args[0])
        if not specs:
            raise KubectlError("error: at least one taint update is required")
        _, node = self.fetch(resource, name)
        taints = list(dig(node, "spec", "taints", default=[]) or [])
        added = False
        for spec in specs:
            if spec.endswith("-"):
                key, _, effect = spec[:-1].partition(":")
                key = key.split("=")[0]
                keep = [t for t in taints if not (t.get("key") == key and (not effect or t.get("effect") == effect))]
                if len(keep) == len(taints):
                    raise KubectlError('error: taint "%s" not found' % spec[:-1])
                taints = keep
                continue
            m = re.fullmatch(r"([^=:]+)(?:=([^:]*))?:(.*)", spec)
            if not m:
                raise KubectlError('error: invalid taint spec: %s, unknown taint spec' % spec)
            key, value, effect = m.group(1), m.group(2), m.group(3)
            if effect not in TAINT_EFFECTS:
                raise KubectlError("error: invalid taint spec: %s, invalid taint effect: %s, unsupported taint effect" % (spec, effect))
            existing = [t for t in taints if t.get("key") == key and t.get("effect") == effect]
            if existing and not self.flags.bool("overwrite"):
                raise KubectlError("error: node %s already has %s taint(s) with same effect(s) and --overwrite is false" % (name, key))
            taint = {"key": key, "effect": effect}
            if value:
                taint["value"] = value
            taints = [t for t in taints if t not in existing] + [taint]
            added = True
        body = {"spec": {"taints": taints or None}}
        try:
            self.api().patch(api_path(resource, None, name), body)
        except (ApiError, NetError) as e:
            raise server_error(e)
        self.out.write("node/%s %s\n" % (name, "tainted" if added else "untainted"))
        return 0


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def three_way_patch(last, applied):
    """kubectl apply's patch: everything in the new manifest, and null for what the last apply had and this one drops."""
    patch = {}
    for key, value in applied.items():
        if isinstance(value, dict) and isinstance(last.get(key), dict):
            patch[key] = three_way_patch(last[key], value)
        else:
            patch[key] = value
    for key in last:
        if key not in applied:
            patch[key] = None
    return patch


def age(timestamp):
    if not timestamp:
        return "<unknown>"
    seconds = max(0, int(time.time() - parse_time(timestamp)))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2 or (unit == "m" and seconds >= 120):
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def node_columns(node, wide):
    ready = next((c for c in dig(node, "status", "conditions", default=[]) or [] if c.get("type") == "Ready"), None)
    status = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    if dig(node, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (dig(node, "metadata", "labels", default={}) or {}) if k.startswith("node-role.kubernetes.io/"))
    cols = [status, ",".join(roles) or "<none>", age(dig(node, "metadata", "creationTimestamp")), dig(node, "status", "nodeInfo", "kubeletVersion", default="")]
    if wide:
        addrs = dig(node, "status", "addresses", default=[]) or []
        pick = lambda t: next((a["address"] for a in addrs if a.get("type") == t), "<none>")
        info = dig(node, "status", "nodeInfo", default={}) or {}
        cols += [pick("InternalIP"), pick("ExternalIP"), info.get("osImage", ""), info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]
    return cols


def run_kubectl(flags):
    try:
        return Kubectl(flags).run(flags.args)
    except KubectlError as e:
        sys.stderr.write(str(e) + "\n")
        return 1


# ---------------------------------------------------------------------------------------------------
# Node-side helpers: cgroups, swap, interfaces, CNI config, containerd's CRI plugin
# ---------------------------------------------------------------------------------------------------

def cgroup_version():
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[4] == "/sys/fs/cgroup":
                    fstype = fields[fields.index("-") + 1]
                    return 2 if fstype == "cgroup2" else 1
    except (OSError, IndexError, ValueError):
        pass
    return 1


def host_addresses():
    """Every IP assigned to an interface of this host: {ip: interface}."""
    out = subprocess.run(["ip", "-o", "addr", "show"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
    found = {}
    for m in re.finditer(r"^\d+:\s+(\S+)\s+inet6?\s+([0-9a-fA-F:.]+)/\d+", out, re.M):
        found[m.group(2)] = m.group(1).split("@")[0]
    return found


def default_route_interface():
    try:
        with open("/proc/net/route") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1] == "00000000" and int(fields[3], 16) & 2:
                    return fields[0]
    except OSError:
        pass
    return None


def interface_ip(name):
    for ip, iface in host_addresses().items():
        if iface == name and "." in ip:
            return ip
    return None


def cni_config_problem(conf_dir):
    """Why the runtime's CNI is not initialized (no valid network config), as the kubelet reports it; None if it is."""
    try:
        names = sorted(n for n in os.listdir(conf_dir) if n.endswith((".conf", ".conflist", ".json")))
    except OSError:
        names = []
    for name in names:
        try:
            with open(os.path.join(conf_dir, name)) as f:
                conf = json.load(f)
        except (OSError, ValueError):
            continue
        if conf.get("type") or (isinstance(conf.get("plugins"), list) and conf["plugins"]):
            return None
    return ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin "
            "returns error: cni plugin not initialized")


def containerd_cni_dir():
    try:
        with open("/etc/containerd/config.toml") as f:
            m = re.search(r'^\s*conf_dir\s*=\s*"([^"]+)"', f.read(), re.M)
            if m:
                return m.group(1)
    except OSError:
        pass
    return "/etc/cni/net.d"


def check_cri(endpoint):
    """What the kubelet's CRI handshake would meet: (runtime version) or a Fatal worded as the kubelet's."""
    path = endpoint[len("unix://"):] if endpoint.startswith("unix://") else endpoint
    prefix = 'validate service connection: validate CRI v1 runtime API for endpoint "%s": ' % endpoint
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect(path)
    except OSError as e:
        fatal(prefix + 'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix %s: '
              'connect: %s"' % (path, go_strerror(e)))
    finally:
        sock.close()
    try:
        plugins = subprocess.run(["ctr", "--address", path, "plugins", "ls"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        log("cannot run ctr to inspect the runtime (%s); assuming the CRI plugin is there" % e, "W")
        return "containerd://unknown"
    cri = [line.split() for line in plugins.stdout.decode().splitlines() if re.match(r"io\.containerd\.grpc\.v1\s+cri\s", line)]
    if plugins.returncode != 0 or not cri or cri[0][-1] != "ok":
        fatal(prefix + "rpc error: code = Unimplemented desc = unknown service runtime.v1.RuntimeService")
    version = subprocess.run(["ctr", "--address", path, "version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
    m = re.search(r"Server:\s*\n\s*Version:\s*(\S+)", version)
    return "containerd://%s" % (m.group(1) if m else "unknown")


# ---------------------------------------------------------------------------------------------------
# kubelet
# ---------------------------------------------------------------------------------------------------

def parse_taint(spec):
    m = re.fullmatch(r"([^=:]+)(?:=([^:]*))?:(.+)", spec.strip())
    if not m:
        fatal('invalid taint spec: "%s"' % spec)
    taint = {"key": m.group(1), "effect": m.group(3)}
    if m.group(2):
        taint["value"] = m.group(2)
    return taint


class Kubelet:
    def __init__(self, flags):
        self.flags = flags
        self.config = self.load_config()
        cfg = lambda key, default=None: self.config.get(key, default)
        self.node_labels = self.parse_node_labels()
        self.check_cgroups(cfg("failCgroupV1"))
        self.check_swap(flags.bool("fail-swap-on", cfg("failSwapOn", True)))
        self.hostname = (flags.get("hostname-override") or socket.gethostname()).lower().strip()
        self.node_name = self.hostname
        self.node_ip = self.choose_node_ip(flags.get("node-ip"))
        taints = flags.all("register-with-taints") if "register-with-taints" in flags else None
        self.taints = [parse_taint(t) for t in taints] if taints is not None else (cfg("registerWithTaints") or [])
        problems = taint_problems(self.taints, "registerWithTaints")
        if problems:
            fatal("invalid configuration: %s" % ", ".join(problems))
        self.register = flags.bool("register-node", cfg("registerNode", True))
        self.heartbeat = go_duration(cfg("nodeStatusUpdateFrequency"), 10.0)
        self.lease_seconds = int(cfg("nodeLeaseDurationSeconds", 40))
        kubeconfig = flags.get("kubeconfig")
        if kubeconfig:
            read_file(kubeconfig, "failed to construct kubelet dependencies: invalid kubeconfig")
            self.client = KubeClient(kubeconfig, user_agent="kubelet/%s (linux/amd64) standin" % VERSION)
        else:
            if flags.get("bootstrap-kubeconfig"):
                fatal("standin: TLS bootstrapping (--bootstrap-kubeconfig without a --kubeconfig) is not implemented by this test stand-in")
            self.client = None
        endpoint = flags.get("container-runtime-endpoint") or cfg("containerRuntimeEndpoint") or DEFAULT_CRI_ENDPOINT
        self.runtime_version = check_cri(endpoint)
        self.cni_dir = containerd_cni_dir()
        self.sar_cache = {}
        self.conditions = {}

    def load_config(self):
        path = self.flags.get("config")
        if not path:
            return {}
        text = read_file(path, "failed to load kubelet config file, path: %s, error" % path).decode()
        try:
            config = load_yaml(text) or {}
        except Exception as e:  # yaml.YAMLError
            fatal("failed to load kubelet config file, path: %s, error: failed to decode: %s" % (path, e))
        if config.get("kind") != "KubeletConfiguration" or config.get("apiVersion") not in ("kubelet.config.k8s.io/v1beta1", "kubelet.config.k8s.io/v1"):
            fatal('failed to load kubelet config file, path: %s, error: failed to decode: no kind "%s" is registered for version "%s" '
                  'in scheme "pkg/kubelet/apis/config/scheme/scheme.go:30"' % (path, config.get("kind", ""), config.get("apiVersion", "")))
        driver = config.get("cgroupDriver", "cgroupfs")
        if driver not in ("cgroupfs", "systemd"):
            fatal('failed to validate kubelet configuration, error: invalid configuration: cgroupDriver (--cgroup-driver) "%s" is not supported' % driver)
        return config

    def parse_node_labels(self):
        labels = {}
        for item in self.flags.all("node-labels"):
            key, _, value = item.partition("=")
            labels[key] = value
        unknown = sorted(k for k in labels if not kubelet_may_set_label(k))
        if unknown:
            fatal("failed to validate kubelet flags: unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [%s]\n"
                  "--node-labels in the 'kubernetes.io' namespace must begin with an allowed prefix (kubelet.kubernetes.io, "
                  "node.kubernetes.io) or be in the specifically allowed set (%s)" % (" ".join(unknown), ", ".join(KUBELET_LABELS)))
        problems = label_problems(labels, "--node-labels")
        if problems:
            fatal("failed to validate kubelet flags: invalid node labels: %s" % "; ".join(problems))
        return labels

    @staticmethod
    def check_cgroups(fail_v1):
        if cgroup_version() != 1:
            return
        if minor(VERSION) >= 35 and fail_v1 is not False:
            fatal("failed to validate kubelet configuration, error: kubelet is configured to not run on a host using cgroup v1. "
                  "cgroup v1 support is unsupported and will be removed in a future release")
        log("cgroup v1 detected. cgroup v1 support has been transitioned into maintenance mode, please plan for the migration "
            "towards cgroup v2. More information at https://git.k8s.io/enhancements/keps/sig-node/4569-cgroup-v1-maintenance-mode", "W")

    @staticmethod
    def check_swap(fail_swap_on):
        try:
            with open("/proc/swaps") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            return
        if lines and fail_swap_on:
            fatal("failed to run Kubelet: running with swap on is not supported, please disable swap or set --fail-swap-on flag "
                  "to false. /proc/swaps contained: %s" % lines)

    def choose_node_ip(self, wanted):
        addresses = host_addresses()
        if wanted:
            for ip in wanted.split(","):
                if not is_ip(ip):
                    fatal('failed to run Kubelet: bad --node-ip "%s"; could not parse "%s" as an IP address' % (wanted, ip))
                if ip not in addresses:
                    fatal('failed to run Kubelet: failed to validate nodeIP: node IP: "%s" not found in the host\'s network interfaces' % ip)
            return wanted.split(",")[0]
        try:
            ip = socket.gethostbyname(self.hostname)
            if not ip.startswith("127."):
                return ip
        except OSError:
            pass
        iface = default_route_interface()
        ip = interface_ip(iface) if iface else None
        if not ip:
            others = [a for a in addresses if "." in a and not a.startswith("127.")]
            ip = others[0] if others else None
        if not ip:
            fatal("failed to run Kubelet: can't get ip address of node %s. error: no default routes found" % self.node_name)
        return ip

    # -- the node object and its heartbeat --

    def node_object(self):
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
        labels = {"kubernetes.io/hostname": self.hostname, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
                  "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch}
        labels.update(self.node_labels)
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node_name, "labels": labels, "annotations": {
            "volumes.kubernetes.io/controller-managed-attach-detach": "true", "node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {}, "status": self.node_status()}
        if self.taints:
            node["spec"]["taints"] = self.taints
        return node

    def node_status(self):
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
        now = now_rfc3339()
        problem = cni_config_problem(self.cni_dir)
        wanted = [("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                  ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                  ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                  ("Ready", "False" if problem else "True", "KubeletNotReady" if problem else "KubeletReady",
                   problem or "kubelet is posting ready status")]
        conditions = []
        for kind, status, reason, message in wanted:
            previous = self.conditions.get(kind)
            transition = previous[1] if previous and previous[0] == status else now
            self.conditions[kind] = (status, transition)
            conditions.append({"type": kind, "status": status, "reason": reason, "message": message,
                               "lastHeartbeatTime": now, "lastTransitionTime": transition})
        capacity = {"cpu": str(os.cpu_count() or 1), "memory": "%dKi" % (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024),
                    "pods": str(self.config.get("maxPods", 110)), "ephemeral-storage": "10Gi"}
        return {"addresses": [{"type": "InternalIP", "address": self.node_ip}, {"type": "Hostname", "address": self.hostname}],
                "capacity": capacity, "allocatable": dict(capacity), "conditions": conditions,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": int(self.flags.get("port") or self.config.get("port", 10250))}},
                "nodeInfo": {"architecture": arch, "operatingSystem": "linux", "kubeletVersion": VERSION, "kubeProxyVersion": "",
                             "containerRuntimeVersion": self.runtime_version, "kernelVersion": os.uname().release,
                             "osImage": os_image(), "machineID": read_text("/etc/machine-id"), "systemUUID": "",
                             "bootID": read_text("/proc/sys/kernel/random/boot_id")}}

    def register_node(self, stop):
        delay = 0.2
        while not stop.is_set():
            try:
                self.client.post("/api/v1/nodes", self.node_object())
                log('Successfully registered node node="%s"' % self.node_name)
                return True
            except ApiError as e:
                if e.status == 409:
                    try:
                        self.client.patch("/api/v1/nodes/%s/status" % self.node_name, {"status": self.node_status()})
                        log('Node was previously registered node="%s"' % self.node_name)
                        return True
                    except (ApiError, NetError) as e2:
                        e = e2
                log('"Unable to register node with API server" err=%s node="%s"' % (q(describe_failure(e)), self.node_name), "E")
            except NetError as e:
                log('"Unable to register node with API server" err=%s node="%s"' % (q(e), self.node_name), "E")
            stop.wait(delay)
            delay = min(7.0, delay * 2)
        return False

    def renew_lease(self):
        leases = res("leases", "coordination.k8s.io")
        path = api_path(leases, "kube-node-lease", self.node_name)
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": self.lease_seconds, "renewTime": now_micro()}
        try:
            lease = self.client.get(path)
        except ApiError as e:
            if e.status != 404:
                raise
            node = self.client.get("/api/v1/nodes/" + self.node_name)
            self.client.post(api_path(leases, "kube-node-lease"), {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node_name, "namespace": "kube-node-lease", "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": node["metadata"]["uid"]}]},
                "spec": spec})
            return
        lease["spec"] = dict(lease.get("spec") or {}, **spec)
        self.client.put(path, lease)

    def heartbeat_loop(self, stop):
        while not stop.is_set():
            try:
                self.renew_lease()
            except (ApiError, NetError) as e:
                log('"Failed to update lease" err=%s' % q(describe_failure(e)), "E")
            try:
                self.client.patch("/api/v1/nodes/%s/status" % self.node_name, {"status": self.node_status()})
            except (ApiError, NetError) as e:
                log('"Error updating node status, will retry" err=%s' % q(describe_failure(e)), "E")
            stop.wait(self.heartbeat)

    # -- the kubelet API on :10250: x509 authentication, Webhook (SubjectAccessReview) authorization --

    def serve(self, h, method):
        path = urllib.parse.urlsplit(h.path).path
        identity = h.peer_identity()
        auth = self.config.get("authentication") or {}
        if identity and identity[0]:
            user = User(identity[0], identity[1] + ["system:authenticated"])
        elif self.flags.bool("anonymous-auth", dig(auth, "anonymous", "enabled", default=False)):
            user = ANONYMOUS
        else:
            return h.reply(401, "Unauthorized")
        verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        subresources = kubelet_subresources(path)
        if not self.authorized(user, verb, subresources):
            return h.reply(403, "Forbidden (user=%s, verb=%s, resource=nodes, subresource=%s)" % (user.name, verb, subresources[0]))
        if path == "/healthz":
            return h.reply(200, "ok")
        if path == "/pods":
            return h.reply_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []})
        if path == "/configz":
            return h.reply_json(200, {"kubeletconfig": self.config})
        return h.reply(404, "404 page not found\n")

    def authorized(self, user, verb, subresources):
        mode = self.flags.get("authorization-mode") or dig(self.config, "authorization", "mode", default="Webhook")
        if mode == "AlwaysAllow":
            return True
        if self.client is None:
            return False
        webhook = dig(self.config, "authorization", "webhook", default={}) or {}
        key = (user.name, tuple(user.groups), verb, tuple(subresources))
        cached = self.sar_cache.get(key)
        if cached and cached[0] > time.time():
            return cached[1]
        allowed = False
        for subresource in subresources:
            review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
                "user": user.name, "groups": user.groups, "resourceAttributes": {
                    "verb": verb, "resource": "nodes", "subresource": subresource, "name": self.node_name, "version": "v1"}}}
            try:
                allowed = bool(dig(self.client.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", review), "status", "allowed"))
            except (ApiError, NetError) as e:
                log('"Authorization error" user="%s" verb="%s" resource="nodes" subresource="%s" err=%s' % (user.name, verb, subresource, q(describe_failure(e))), "E")
                return False
            if allowed:
                break
        ttl = go_duration(webhook.get("cacheAuthorizedTTL"), 300.0) if allowed else go_duration(webhook.get("cacheUnauthorizedTTL"), 30.0)
        self.sar_cache[key] = (time.time() + ttl, allowed)
        return allowed

    def start_servers(self):
        cfg = self.config
        x509 = dig(cfg, "authentication", "x509", default={}) or {}
        cert = self.flags.get("tls-cert-file") or cfg.get("tlsCertFile")
        key = self.flags.get("tls-private-key-file") or cfg.get("tlsPrivateKeyFile")
        if not (cert and key):
            cert_dir = self.flags.get("cert-dir") or os.path.join(self.flags.get("root-dir") or "/var/lib/kubelet", "pki")
            cert, key = self_signed("kubelet", cert_dir, (self.node_ip, self.hostname))
        ctx = server_context(cert, key, self.flags.get("client-ca-file") or x509.get("clientCAFile"), "kubelet serving")
        address = self.flags.get("address") or cfg.get("address", "0.0.0.0")
        port = int(self.flags.get("port") or cfg.get("port", 10250))
        Server(address, port, self, ctx)
        healthz_port = int(self.flags.get("healthz-port") or cfg.get("healthzPort", 10248))
        if healthz_port:
            Server(self.flags.get("healthz-bind-address") or cfg.get("healthzBindAddress", "127.0.0.1"), healthz_port, PlainHealth())
        log("kubelet %s serving on %s, healthz on :%d, node %s (%s), runtime %s" % (
            VERSION, join_host_port(address, port), healthz_port, self.node_name, self.node_ip, self.runtime_version))

    def run(self):
        self.start_servers()
        sd_notify_ready()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        if self.client is None:
            log("No API server defined - no node status update will be sent")
        elif not self.register or self.register_node(stop):
            self.heartbeat_loop(stop)
        stop.wait()
        log("received SIGTERM, shutting down")
        return 0


def kubelet_subresources(path):
    """The nodes/<subresource> a kubelet API path needs, in the order the kubelet asks: from 1.33
    (KubeletFineGrainedAuthz on by default) /pods, /healthz and /configz have their own, with nodes/proxy
    as the fallback."""
    first = path.strip("/").split("/")[0]
    legacy = {"stats": "stats", "metrics": "metrics", "logs": "log", "spec": "spec", "checkpoint": "checkpoint"}
    if first in legacy:
        return [legacy[first]]
    if first in ("pods", "healthz", "configz") and minor(VERSION) >= 33:
        return [first, "proxy"]
    return ["proxy"]


class PlainHealth:
    """An unauthenticated /healthz (kubelet :10248, kube-proxy's healthz/livez answer their own)."""

    def __init__(self, check=None):
        self.check = check

    def serve(self, h, method):
        path = urllib.parse.urlsplit(h.path).path
        if path in ("/healthz", "/livez", "/readyz"):
            if self.check:
                code, body, ctype = self.check()
                return h.reply(code, body, ctype)
            return h.reply(200, "ok")
        return h.reply(404, "404 page not found\n")


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def os_image():
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)', read_text("/etc/os-release"), re.M)
    return m.group(1) if m else "Linux"


# ---------------------------------------------------------------------------------------------------
# kube-controller-manager, kube-scheduler, kube-proxy: clients of the API server with their kubeconfig
# ---------------------------------------------------------------------------------------------------

def check_delegated_kubeconfigs(flags):
    """controller-manager and scheduler load these at start-up (delegated authentication of their own API)."""
    for kind in ("authentication", "authorization"):
        path = flags.get("%s-kubeconfig" % kind)
        if path and not os.path.exists(path):
            fatal("failed to get delegated %s kubeconfig: stat %s: no such file or directory" % (kind, path))


def component_client(path, what):
    if not path:
        fatal("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined")
    if not os.path.exists(path):
        fatal("stat %s: no such file or directory" % path)
    return KubeClient(path, user_agent="%s/%s (linux/amd64) standin" % (what, VERSION))


def load_component_config(flags, kinds):
    path = flags.get("config")
    if not path:
        return {}
    text = read_file(path).decode()
    try:
        config = load_yaml(text) or {}
    except Exception as e:  # yaml.YAMLError
        fatal("failed to load config file %s: %s" % (path, e))
    if config.get("kind") not in kinds:
        fatal('no kind "%s" is registered for version "%s" in scheme "%s"' % (config.get("kind", ""), config.get("apiVersion", ""), path))
    return config


def secure_health_server(flags, component, default_port):
    port = int(flags.get("secure-port") or default_port)
    if port == 0:
        return
    cert, key = flags.get("tls-cert-file"), flags.get("tls-private-key-file")
    if not (cert and key):
        cert, key = self_signed(component, flags.get("cert-dir") or None, ("127.0.0.1",))
    address = flags.get("bind-address") or "0.0.0.0"
    Server(address, port, PlainHealth(), server_context(cert, key))
    log("%s %s serving securely on %s (/healthz)" % (component, VERSION, join_host_port(address, port)))


class LeaderElector:
    """client-go's Lease lock: take the lease when it is free or expired, renew it while holding it."""

    def __init__(self, client, namespace, name, duration=15):
        self.client, self.namespace, self.name, self.duration = client, namespace, name, duration
        self.identity = "%s_%s" % (socket.gethostname(), uuid.uuid4())
        self.leading = False

    def try_acquire_or_renew(self):
        leases = res("leases", "coordination.k8s.io")
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration, "renewTime": now_micro()}
        try:
            lease = self.client.get(api_path(leases, self.namespace, self.name))
        except ApiError as e:
            if e.status != 404:
                raise
            spec["acquireTime"] = spec["renewTime"]
            try:
                self.client.post(api_path(leases, self.namespace), {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                 "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec})
            except ApiError as e2:
                if e2.status == 409:
                    return False
                raise
            return self.became_leader()
        held = lease.get("spec") or {}
        expired = parse_time(held.get("renewTime")) + int(held.get("leaseDurationSeconds") or self.duration) < time.time()
        if held.get("holderIdentity") != self.identity and not expired:
            self.leading = False
            return False
        if held.get("holderIdentity") != self.identity:
            spec["acquireTime"] = spec["renewTime"]
            spec["leaseTransitions"] = int(held.get("leaseTransitions") or 0) + 1
        lease["spec"] = dict(held, **spec)
        try:
            self.client.put(api_path(leases, self.namespace, self.name), lease)
        except ApiError as e:
            if e.status == 409:
                return False
            raise
        return self.became_leader()

    def became_leader(self):
        if not self.leading:
            log('successfully acquired lease %s/%s' % (self.namespace, self.name))
        self.leading = True
        return True


def lease_failure(elector, e):
    return "error retrieving resource lock %s/%s: %s" % (elector.namespace, elector.name, describe_failure(e))


class ControllerManager:
    def __init__(self, flags):
        self.flags = flags
        self.allocate = flags.bool("allocate-node-cidrs")
        self.cluster_cidr = self.node_mask = None
        if self.allocate:
            if not flags.get("cluster-cidr"):
                fatal("Controller: Must specify --cluster-cidr if --allocate-node-cidrs is set")
            try:
                self.cluster_cidr = ipaddress.ip_network(flags.all("cluster-cidr")[0], strict=False)
            except ValueError:
                fatal('Controller: Invalid --cluster-cidr "%s"' % flags.get("cluster-cidr"))
            self.node_mask = int(flags.get("node-cidr-mask-size-ipv4") or flags.get("node-cidr-mask-size") or (24 if self.cluster_cidr.version == 4 else 64))
            if self.cluster_cidr.prefixlen > self.node_mask:
                fatal("Controller: Invalid --cluster-cidr, mask size of cluster CIDR must be less than or equal to --node-cidr-mask-size configured for CIDR family")
        self.service_cidr = ipaddress.ip_network(flags.all("service-cluster-ip-range")[0], strict=False) if flags.all("service-cluster-ip-range") else None
        for c, k in ((flags.get("cluster-signing-cert-file"), flags.get("cluster-signing-key-file")),):
            if c or k:
                check_key_pair(c or "", k or "", "error reading CSR signer")
        sa_key = flags.get("service-account-private-key-file")
        if sa_key:
            read_file(sa_key, "error reading key for service account token controller")
            if subprocess.run(["openssl", "pkey", "-in", sa_key, "-noout"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
                fatal("error reading key for service account token controller: error reading private key file %s: data does not contain a valid RSA or ECDSA private key" % sa_key)
        if flags.get("root-ca-file"):
            read_file(flags.get("root-ca-file"), "error reading root-ca-file")
        check_delegated_kubeconfigs(flags)
        self.root = component_client(flags.get("kubeconfig"), "kube-controller-manager")
        self.use_sa = flags.bool("use-service-account-credentials")
        controllers = flags.all("controllers") or ["*"]
        enabled = lambda name: ("*" in controllers or name in controllers) and "-" + name not in controllers
        self.run_ipam, self.run_lifecycle = self.allocate and enabled("nodeipam"), enabled("nodelifecycle")
        self.grace = go_duration(flags.get("node-monitor-grace-period"), 40.0)
        self.tokens = {}
        self.elector = LeaderElector(self.root, flags.get("leader-elect-resource-namespace") or "kube-system",
                                     flags.get("leader-elect-resource-name") or "kube-controller-manager") if flags.bool("leader-elect", True) else None

    def controller_client(self, name):
        """With --use-service-account-credentials each controller acts as its own service account, through a token."""
        if not self.use_sa:
            return self.root
        cached = self.tokens.get(name)
        if cached and cached[0] > time.time() + 60:
            return cached[1]
        sas = res("serviceaccounts")
        try:
            self.root.get(api_path(sas, "kube-system", name))
        except ApiError as e:
            if e.status != 404:
                raise
            self.root.post(api_path(sas, "kube-system"), {"apiVersion": "v1", "kind": "ServiceAccount",
                                                          "metadata": {"name": name, "namespace": "kube-system"}})
        review = self.root.post(api_path(sas, "kube-system", name, "token"), {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}})
        client = self.root.with_token(review["status"]["token"])
        self.tokens[name] = (time.time() + 3600, client)
        return client

    def run(self):
        secure_health_server(self.flags, "kube-controller-manager", 10257)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        while not stop.is_set():
            try:
                if self.elector is None or self.elector.try_acquire_or_renew():
                    self.reconcile()
            except (ApiError, NetError) as e:
                if isinstance(e, ApiError) and e.status == 401:
                    self.tokens.clear()
                log(lease_failure(self.elector, e) if self.elector and not self.elector.leading else "controller sync failed: %s" % describe_failure(e), "E")
            stop.wait(2)
        log("received SIGTERM, shutting down")
        return 0

    def reconcile(self):
        if not (self.run_ipam or self.run_lifecycle):
            return
        client = self.controller_client("node-controller")
        nodes = client.get("/api/v1/nodes").get("items", [])
        if self.run_ipam:
            self.allocate_cidrs(client, nodes)
        if self.run_lifecycle:
            leases = {lease["metadata"]["name"]: lease
                      for lease in self.root.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases").get("items", [])}
            for node in nodes:
                try:
                    self.monitor(client, node, leases.get(node["metadata"]["name"]))
                except ApiError as e:
                    if e.status != 409:  # a concurrent writer (the kubelet): the next pass sees the fresh node
                        raise

    def allocate_cidrs(self, client, nodes):
        used = {dig(n, "spec", "podCIDR") for n in nodes}
        subnets = self.cluster_cidr.subnets(new_prefix=self.node_mask)
        for node in nodes:
            if dig(node, "spec", "podCIDR"):
                continue
            cidr = next((str(s) for s in subnets if str(s) not in used and not (self.service_cidr and s.overlaps(self.service_cidr))), None)
            name = node["metadata"]["name"]
            if cidr is None:
                log('"Error allocating CIDR for node" node="%s" err="CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range"' % name, "E")
                return
            try:
                node.update(client.patch("/api/v1/nodes/" + name, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
                                                                   "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]}}))
                used.add(cidr)
                log('Set node PodCIDR node="%s" podCIDRs=["%s"]' % (name, cidr))
            except ApiError as e:
                log('"Failed to update node PodCIDR after multiple attempts" node="%s" podCIDRs=["%s"] err=%s' % (name, cidr, q(describe_failure(e))), "E")

    def monitor(self, client, node, lease):
        """Node lifecycle: Ready=Unknown once the kubelet stops posting (lease and status), taints follow readiness."""
        name = node["metadata"]["name"]
        conditions = dig(node, "status", "conditions", default=[]) or []
        ready = next((c for c in conditions if c.get("type") == "Ready"), {})
        beat = max(parse_time(ready.get("lastHeartbeatTime")), parse_time(dig(lease or {}, "spec", "renewTime")),
                   parse_time(node["metadata"].get("creationTimestamp")))
        state = ready.get("status", "Unknown")
        if time.time() - beat > self.grace and state != "Unknown":
            now = now_rfc3339()
            updated = [dict(c, status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                            lastTransitionTime=now) if c.get("type") in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure") else c
                       for c in conditions]
            node = client.patch("/api/v1/nodes/%s/status" % name, {"status": {"conditions": updated}})
            log('Node is unresponsive. Adding it to the Taint queue node="%s"' % name)
            state = "Unknown"
        key = {"True": None, "False": "node.kubernetes.io/not-ready", "Unknown": "node.kubernetes.io/unreachable"}[state]
        taints = dig(node, "spec", "taints", default=[]) or []
        managed = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
        wanted = [t for t in taints if t.get("key") not in managed or (t.get("key") == key and t.get("effect") == "NoSchedule")]
        if key and not any(t.get("key") == key for t in wanted):
            wanted.append({"key": key, "effect": "NoSchedule"})
        if wanted != taints:
            client.patch("/api/v1/nodes/" + name, {"spec": {"taints": wanted or None},
                                                    "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]}})


class Scheduler:
    def __init__(self, flags):
        self.flags = flags
        config = load_component_config(flags, ("KubeSchedulerConfiguration",))
        path = dig(config, "clientConnection", "kubeconfig") or flags.get("kubeconfig")
        check_delegated_kubeconfigs(flags)
        self.client = component_client(path, "kube-scheduler")
        elect = dig(config, "leaderElection", "leaderElect", default=flags.bool("leader-elect", True))
        self.elector = LeaderElector(self.client, "kube-system", flags.get("leader-elect-resource-name") or "kube-scheduler") if elect else None

    def run(self):
        secure_health_server(self.flags, "kube-scheduler", 10259)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        while not stop.is_set():
            for kind, path in (("*v1.Node", "/api/v1/nodes"), ("*v1.Pod", "/api/v1/pods")):
                try:
                    self.client.get(path)
                except (ApiError, NetError) as e:
                    log('"Unhandled Error" err=%s' % q("failed to list %s: %s" % (kind, describe_failure(e))), "E")
            if self.elector:
                try:
                    self.elector.try_acquire_or_renew()
                except (ApiError, NetError) as e:
                    log(lease_failure(self.elector, e), "E")
            stop.wait(5)
        log("received SIGTERM, shutting down")
        return 0


class KubeProxy:
    MODES = ("iptables", "ipvs", "nftables", "")

    def __init__(self, flags):
        self.flags = flags
        config = load_component_config(flags, ("KubeProxyConfiguration",))
        self.mode = flags.get("proxy-mode") or config.get("mode") or ""
        if self.mode not in self.MODES:
            fatal('KubeProxyConfiguration.Mode: Invalid value: "%s": must be iptables, ipvs, nftables or blank (blank means the best-available proxy [currently iptables])' % self.mode)
        if self.mode == "ipvs" and not os.path.exists("/proc/net/ip_vs"):
            fatal("can't use the IPVS proxier: error getting required ipvs kernel modules: ip_vs is not loaded (no /proc/net/ip_vs)")
        path = flags.get("kubeconfig") or dig(config, "clientConnection", "kubeconfig")
        self.client = component_client(path, "kube-proxy")
        self.node = (flags.get("hostname-override") or config.get("hostnameOverride") or socket.gethostname()).lower()
        healthz = flags.get("healthz-bind-address") or config.get("healthzBindAddress") or "0.0.0.0:10256"
        host, _, port = healthz.rpartition(":")
        self.healthz = (host.strip("[]") or "0.0.0.0", int(port or 10256))
        self.synced_at = None

    def health(self):
        now = time.time()
        healthy = self.synced_at is not None and now - self.synced_at < 60
        body = json.dumps({"lastUpdated": datetime.datetime.fromtimestamp(self.synced_at or 0, datetime.timezone.utc).isoformat(),
                           "currentTime": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(), "nodeEligible": True})
        return (200 if healthy else 503), body, "application/json"

    def run(self):
        Server(self.healthz[0], self.healthz[1], PlainHealth(self.health))
        log("kube-proxy %s (%s mode) healthz on %s" % (VERSION, self.mode or "iptables", join_host_port(*self.healthz)))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        while not stop.is_set():
            ok = True
            for kind, path in (("*v1.Service", "/api/v1/services"), ("*v1.EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices"),
                               ("*v1.Node", "/api/v1/nodes/" + self.node)):
                try:
                    self.client.get(path)
                except (ApiError, NetError) as e:
                    if not (isinstance(e, ApiError) and e.status == 404 and kind == "*v1.Node"):
                        ok = False
                        log('"Unhandled Error" err=%s' % q("failed to list %s: %s" % (kind, describe_failure(e))), "E")
            if ok:
                self.synced_at = time.time()
            stop.wait(5)
        log("received SIGTERM, shutting down")
        return 0


# ---------------------------------------------------------------------------------------------------
# flanneld: a subnet lease per host, in etcd (etcd mode) or from the node's podCIDR (kube mode)
# ---------------------------------------------------------------------------------------------------

BACKEND_MTU_OVERHEAD = {"vxlan": 50, "host-gw": 0, "udp": 28, "ipip": 20, "wireguard": 80, "ipsec": 0, "alloc": 0}


class Flanneld:
    def __init__(self, flags):
        self.flags = flags
        self.subnet_file = flags.get("subnet-file") or "/run/flannel/subnet.env"
        self.iface, self.iface_ip = self.choose_interface()
        self.public_ip = flags.get("public-ip") or self.iface_ip
        log("Using interface with name %s and address %s" % (self.iface, self.iface_ip))
        if not flags.get("public-ip"):
            log("Defaulting external address to interface address (%s)" % self.iface_ip)
        self.ip_masq = flags.bool("ip-masq")
        self.kube = flags.bool("kube-subnet-mgr")
        if self.kube:
            self.node_name = os.environ.get("NODE_NAME")
            if not self.node_name:
                fatal("failed to create SubnetManager: env variables POD_NAME and POD_NAMESPACE must be set")
            self.client = component_client(flags.get("kubeconfig-file"), "flanneld")
            path = flags.get("net-config-path") or "/etc/kube-flannel/net-conf.json"
            try:
                self.net_config = self.parse_config(read_text_strict(path))
            except ValueError as e:
                fatal("failed to read net conf: %s" % e)
        else:
            self.prefix = (flags.get("etcd-prefix") or "/coreos.com/network").rstrip("/")
            endpoints = flags.all("etcd-endpoints") or ["http://127.0.0.1:4001", "http://127.0.0.1:2379"]
            self.etcd = Etcd(endpoints, flags.get("etcd-cafile"), flags.get("etcd-certfile"), flags.get("etcd-keyfile"))
        self.notified = False
        self.vtep_mac = "%02x:%s" % (random.randrange(0, 256) & 0xFE | 0x02, ":".join("%02x" % random.randrange(256) for _ in range(5)))

    def choose_interface(self):
        for wanted in self.flags.all("iface"):
            if is_ip(wanted):
                iface = host_addresses().get(wanted)
                if iface:
                    return iface, wanted
            else:
                ip = interface_ip(wanted)
                if ip:
                    return wanted, ip
        if self.flags.all("iface"):
            fatal("Failed to find any valid interface to use: failed to find interface(s) %s" % ",".join(self.flags.all("iface")))
        iface = default_route_interface()
        if not iface:
            fatal("Failed to find any valid interface to use: failed to get default interface: Unable to find default route")
        ip = interface_ip(iface)
        if not ip:
            fatal("Failed to find any valid interface to use: failed to find IPv4 address for interface %s" % iface)
        return iface, ip

    @staticmethod
    def parse_config(text):
        try:
            cfg = json.loads(text)
        except ValueError as e:
            raise ValueError("error decoding network config: %s" % e)
        try:
            network = ipaddress.ip_network(cfg.get("Network", ""), strict=False)
        except ValueError:
            raise ValueError("please define a correct Network parameter in the flannel config")
        subnet_len = int(cfg.get("SubnetLen") or (24 if network.prefixlen < 24 else 0))
        if not subnet_len or subnet_len > 30:
            raise ValueError("SubnetLen must be less than /31")
        if subnet_len < network.prefixlen + 2:
            raise ValueError("Network must be able to accommodate at least four subnets")
        backend = (cfg.get("Backend") or {}).get("Type") or "vxlan"
        return {"network": network, "subnet_len": subnet_len, "backend": backend, "raw": cfg}

    def mtu(self, backend):
        try:
            mtu = int(read_text("/sys/class/net/%s/mtu" % self.iface) or 1500)
        except ValueError:
            mtu = 1500
        return mtu - BACKEND_MTU_OVERHEAD.get(backend, 0)

    def write_subnet_file(self, config, subnet):
        first = next(subnet.hosts())
        text = "FLANNEL_NETWORK=%s\nFLANNEL_SUBNET=%s/%d\nFLANNEL_MTU=%d\nFLANNEL_IPMASQ=%s\n" % (
            config["network"], first, subnet.prefixlen, self.mtu(config["backend"]), "true" if self.ip_masq else "false")
        if read_text(self.subnet_file) + "\n" != text:
            write_atomic(self.subnet_file, text)
            log("Wrote subnet file to %s" % self.subnet_file)
        if not self.notified:  # as upstream: a Type=notify flanneld is started only once it holds a lease
            sd_notify_ready()
            self.notified = True

    def backend_data(self, backend):
        return {"VNI": 1, "VtepMAC": self.vtep_mac} if backend == "vxlan" else None

    # -- etcd mode --

    def fetch_config(self):
        kv = self.etcd.get(self.prefix + "/config")
        if kv is None:
            raise ValueError("flannel config not found in etcd store. Did you create your config using etcdv3 API?")
        return self.parse_config(kv_value(kv).decode())

    def acquire(self, config):
        """Our earlier lease if we have one (same PublicIP), else a free subnet, claimed with a create-if-absent txn."""
        kvs, _ = self.etcd.range_prefix(self.prefix + "/subnets/")
        taken = {}
        for kv in kvs:
            name = unb64(kv["key"]).decode().rsplit("/", 1)[-1]
            try:
                taken[name] = json.loads(kv_value(kv))
            except ValueError:
                taken[name] = {}
        value = json.dumps({"PublicIP": self.public_ip, "PublicIPv6": None, "BackendType": config["backend"],
                            "BackendData": self.backend_data(config["backend"])})
        lease = self.etcd.grant(24 * 3600)
        for name, attrs in taken.items():
            if attrs.get("PublicIP") == self.public_ip:
                subnet = ipaddress.ip_network(name.replace("-", "/"))
                if subnet.subnet_of(config["network"]) and subnet.prefixlen == config["subnet_len"]:
                    self.etcd.put(self.prefix + "/subnets/" + name, value, lease)
                    log("Found lease (ip: %s/%d) for current IP (%s), reusing" % (subnet.network_address, subnet.prefixlen, self.public_ip))
                    return subnet, lease
        candidates = list(config["network"].subnets(new_prefix=config["subnet_len"]))[1:]  # SubnetMin skips the first
        free = [s for s in candidates if "%s-%d" % (s.network_address, s.prefixlen) not in taken]
        random.shuffle(free)
        for subnet in free[:20]:
            ok, _ = self.etcd.txn_put(self.prefix + "/subnets/%s-%d" % (subnet.network_address, subnet.prefixlen), value, "CREATE", 0, lease)
            if ok:
                log("Allocated lease (ip: %s/%d) to current node (%s)" % (subnet.network_address, subnet.prefixlen, self.public_ip))
                return subnet, lease
        raise ValueError("out of subnets")

    def run_etcd(self, stop):
        config, subnet, lease, renewed = None, None, None, 0.0
        while not stop.is_set():
            try:
                if config is None:
                    config = self.fetch_config()
                    log("Found network config - Backend type: %s" % config["backend"])
                key = self.prefix + "/subnets/%s-%d" % (subnet.network_address, subnet.prefixlen) if subnet else None
                if subnet is None or self.etcd.get(key) is None:
                    subnet, lease = self.acquire(config)
                    renewed = time.time()
                    log("Lease acquired: %s" % subnet)
                elif time.time() - renewed > 3600:
                    self.etcd.keepalive(lease)
                    renewed = time.time()
                self.write_subnet_file(config, subnet)
                stop.wait(10)
            except (EtcdError, ValueError) as e:
                log("Couldn't fetch network config: %s" % e if config is None else "failed to acquire lease: %s" % e, "E")
                stop.wait(1)

    # -- kube mode --

    def run_kube(self, stop):
        """API errors are retried (upstream's informer waits for its first sync); a node that is missing, has no
        podCIDR or one outside the net-conf Network ends flanneld with exit 1, as upstream's RegisterNetwork does."""
        annotated = False
        while not stop.is_set():
            try:
                node = self.client.get("/api/v1/nodes/" + self.node_name)
            except ApiError as e:
                if e.status == 404:
                    return self.registration_failed('node "%s" not found' % self.node_name)
                log("error communicating with the API server: %s" % describe_failure(e), "E")
                stop.wait(2)
                continue
            except NetError as e:
                log("error communicating with the API server: %s" % e, "E")
                stop.wait(2)
                continue
            cidr = dig(node, "spec", "podCIDR")
            if not cidr:
                return self.registration_failed('node "%s" pod cidr not assigned' % self.node_name)
            subnet = ipaddress.ip_network(cidr)
            if not subnet.subnet_of(self.net_config["network"]):
                return self.registration_failed('subnet "%s" specified in the flannel net config doesn\'t contain "%s" PodCIDR of the "%s" node'
                                                % (self.net_config["network"], cidr, self.node_name))
            if not annotated:
                try:
                    self.annotate_node()
                except (ApiError, NetError) as e:
                    log("failed to set the node's flannel annotations: %s" % describe_failure(e), "E")
                    stop.wait(2)
                    continue
                annotated = True
                log("Lease acquired: %s" % cidr)
            self.write_subnet_file(self.net_config, subnet)
            stop.wait(10)
        return 0

    def registration_failed(self, reason):
        log("Error registering network: failed to acquire lease: %s" % reason, "E")
        return 1

    def annotate_node(self):
        backend = self.net_config["backend"]
        self.client.patch("/api/v1/nodes/%s/status" % self.node_name, {"metadata": {"annotations": {
            "flannel.alpha.coreos.com/backend-type": backend,
            "flannel.alpha.coreos.com/backend-data": json.dumps(self.backend_data(backend)),
            "flannel.alpha.coreos.com/kube-subnet-manager": "true",
            "flannel.alpha.coreos.com/public-ip": self.public_ip}}})

    def run(self):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        log("flanneld %s starting (%s)" % (FLANNEL_VERSION, "kube subnet manager" if self.kube else "etcd prefix %s" % self.prefix))
        if self.kube:
            code = self.run_kube(stop)
            if code:
                return code
        else:
            self.run_etcd(stop)
        log("received SIGTERM, exiting")
        return 0


def read_text_strict(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise ValueError("open %s: %s" % (path, go_strerror(e)))


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------

def check_flags(component, flags):
    for name in flags.values:
        removed = REMOVED.get(component, {}).get(name)
        if removed and minor(VERSION) >= removed[0]:
            sys.stderr.write("Error: unknown flag: --%s\n" % name)
            sys.stderr.write("(standin %s: removed upstream in 1.%d: %s)\n" % (VERSION, removed[0], removed[1]))
            sys.exit(1)
        deprecated = DEPRECATED.get(component, {}).get(name)
        if deprecated and minor(VERSION) >= deprecated[0]:
            sys.stderr.write("Flag --%s has been deprecated, %s\n" % (name, deprecated[1]))


RUNNERS = {
    "kube-apiserver": run_apiserver,
    "kubectl": run_kubectl,
    "kubelet": lambda flags: Kubelet(flags).run(),
    "kube-controller-manager": lambda flags: ControllerManager(flags).run(),
    "kube-scheduler": lambda flags: Scheduler(flags).run(),
    "kube-proxy": lambda flags: KubeProxy(flags).run(),
    "flanneld": lambda flags: Flanneld(flags).run(),
}


def main():
    component = component_name()
    flags = Flags(sys.argv[1:], KUBECTL_SHORT if component == "kubectl" else None)
    if component != "kubectl":
        check_flags(component, flags)  # pflag fails on an unknown flag before --version is looked at
        if "version" in flags:
            print(FLANNEL_VERSION if component == "flanneld" else "Kubernetes %s" % VERSION)
            return 0
        if flags.args and component != "flanneld":
            sys.stderr.write('Error: "%s" does not take any arguments, got %s\n' % (component, json.dumps(flags.args)))
            return 1
    try:
        return RUNNERS[component](flags)
    except Fatal as e:
        sys.stderr.write("Error: %s\n" % e)
        log('"command failed" err=%s' % q(e), "E")
        return 1


if __name__ == "__main__":
    sys.exit(main())
