#!/usr/bin/env python3
"""Test stand-in for the Kubernetes binaries and flanneld, which cannot be downloaded in the lab.

NOT Kubernetes. One file plays kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
kube-proxy, kubectl, flanneld, the flannel CNI plugin or CoreDNS (COMPONENT below, baked in by
test/lab/bundle.ts, else the file name `standin-<component>`; the kubelet runs its own file as CoreDNS). It reads the flags and files the real binaries read and refuses what they
refuse, so that a provisioner tested against it fails where it would fail against the real ones:
removed flags and admission plugins, missing or mismatched certificates, identities that Node/RBAC
authorization rejects, a container runtime without its CRI plugin, cgroup v1 from 1.35 on, a flannel
network config missing from etcd. State lives in the lab's real etcd (over gRPC and TLS with the
certificates given, so etcd's authentication sees each component as its certificate's CN), so etcdctl
sees what the API server stored.

Clients and the data path around it are real: kubectl, containerd (pods run through its CRI), runc, the
CNI plugins, iptables. What it does not do: exec/attach/port-forward, server-side apply, resources and
QoS, flannel's VXLAN device (routes as host-gw instead). The contract it implements, and what is real,
is test/standins/README.md. Python 3.7+ standard library, plus python3-yaml for YAML,
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
import queue
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
    "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl", "flanneld", "flannel", "coredns",
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
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
RBAC_GROUP = "rbac.authorization.k8s.io"


def minor(version):
    m = re.match(r"v?(\d+)\.(\d+)", version)
    return int(m.group(2)) if m else 0


# ---------------------------------------------------------------------------------------------------
# Process basics: component name, flags, logging, fatal errors, files
# ---------------------------------------------------------------------------------------------------

def component_name():
    if COMPONENT == "kubelet" and os.environ.get("KUBESTRAP_STANDIN_ROLE") == "coredns":
        return "coredns"  # the kubelet runs its own file as CoreDNS in that pod's container (see PodWorker)
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
        self.last_good = None
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
        # As clientv3's balancer, calls go to an endpoint that answers: the last one that did comes first, so a
        # member that is down costs one failed call, not one per request (etcd's own client keeps to ready
        # subchannels the same way).
        preferred = self.last_good if self.last_good in self.endpoints else None
        for endpoint in ([preferred] if preferred else []) + [e for e in self.endpoints if e != preferred]:
            ch = self.channel(endpoint)
            try:
                if stream:
                    replies = ch.stream_stream(method)(iter([request]), timeout=5)
                    reply = pb_parse(next(replies))
                else:
                    reply = pb_parse(ch.unary_unary(method)(request, timeout=5))
                self.last_good = endpoint
                return reply
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

    def watch(self, prefix, start_revision, events, stop, deadline):
        """etcd's Watch service on every key under prefix from start_revision on, with each change's previous
        value: puts ("PUT" | "DELETE", kv, prev_kv) on the events queue, then None when the watch ends (stop set,
        deadline passed), or an EtcdError (WatchCompacted when start_revision is gone). Runs in its own thread."""
        import grpc
        create = pb_bytes(1, prefix) + pb_bytes(2, prefix_end(prefix)) + pb_int(3, start_revision) + pb_int(6, 1)

        def requests():  # the stream stays open until the watch ends: a half-closed stream would end etcd's side
            yield pb_bytes(1, create)
            stop.wait(max(0.0, deadline - time.time()))

        def run():
            call = None
            try:
                call = self.channel(self.endpoints[0]).stream_stream("/etcdserverpb.Watch/Watch")(requests(), timeout=max(1.0, deadline - time.time()))
                threading.Thread(target=lambda: (stop.wait(max(0.0, deadline - time.time())), call.cancel()), daemon=True).start()
                for raw in call:
                    reply = pb_parse(raw)
                    if pb_one(reply, 5):
                        raise WatchCompacted(pb_one(reply, 5))
                    if pb_one(reply, 4):
                        raise EtcdError(pb_one(reply, 6, b"watch canceled").decode())
                    for data in reply.get(11, []):
                        event = pb_parse(data)
                        prev = pb_one(event, 3, b"")
                        events.put(("DELETE" if pb_one(event, 1) == 1 else "PUT", pb_kv(pb_one(event, 2, b"")), pb_kv(prev) if prev else None))
                events.put(None)
            except grpc.RpcError as e:
                events.put(None if e.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED) else EtcdError(e.details() or str(e.code())))
            except EtcdError as e:
                events.put(e)
        threading.Thread(target=run, daemon=True).start()


class WatchCompacted(EtcdError):
    def __init__(self, revision):
        super().__init__("required revision has been compacted")
        self.revision = revision


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


# What discovery lists besides the stored resources: each resource's subresources (kind, verbs), the
# "all" category kubectl expands `get all` with, and the create-only resources that are never stored
# (reviews, bindings), as the real server lists them.
STATUS_VERBS = ("get", "patch", "update")
# Subresources whose kind lives in another API group, listed with it as upstream does: kubectl drain
# evicts only when pods/eviction names its group (else it falls back to deleting the pods).
SUBRESOURCE_GROUPS = {"Eviction": ("policy", "v1"), "TokenRequest": ("authentication.k8s.io", "v1"), "Scale": ("autoscaling", "v1")}
SUBRESOURCES = {
    "namespaces": (("status", "Namespace", STATUS_VERBS), ("finalize", "Namespace", ("update",))),
    "nodes": (("status", "Node", STATUS_VERBS), ("proxy", "NodeProxyOptions", ("create", "delete", "get", "patch", "update"))),
    "pods": (("status", "Pod", STATUS_VERBS), ("binding", "Binding", ("create",)), ("log", "Pod", ("get",)),
             ("eviction", "Eviction", ("create",))),
    "services": (("status", "Service", STATUS_VERBS),),
    "serviceaccounts": (("token", "TokenRequest", ("create",)),),
    "deployments": (("status", "Deployment", STATUS_VERBS), ("scale", "Scale", STATUS_VERBS)),
    "replicasets": (("status", "ReplicaSet", STATUS_VERBS), ("scale", "Scale", STATUS_VERBS)),
    "daemonsets": (("status", "DaemonSet", STATUS_VERBS),),
    "statefulsets": (("status", "StatefulSet", STATUS_VERBS), ("scale", "Scale", STATUS_VERBS)),
    "jobs": (("status", "Job", STATUS_VERBS),), "cronjobs": (("status", "CronJob", STATUS_VERBS),),
    "certificatesigningrequests": (("status", "CertificateSigningRequest", STATUS_VERBS),
                                   ("approval", "CertificateSigningRequest", STATUS_VERBS)),
}
CATEGORY_ALL = {"pods", "services", "deployments", "daemonsets", "replicasets", "statefulsets", "jobs", "cronjobs"}
RESOURCE_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
VIRTUAL = [
    Resource("", "v1", "Binding", "bindings", True),
    Resource("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False),
    Resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False),
    Resource("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True),
    Resource("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False),
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

    @classmethod
    def in_cluster(cls, user_agent):
        """client-go's in-cluster config: the `kubernetes` service's variables, the pod's service-account token (read
        again for every request: the kubelet rotates it) and CA."""
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            fatal("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined")
        client = cls.__new__(cls)
        client.path, client.user_agent, client.token = None, user_agent, None
        client.namespace = read_text(SA_MOUNT + "/namespace") or "default"
        client.server = "https://" + join_host_port(host, port)
        client.host, client.port = host, int(port)
        client.ctx = client_context(ca_file=SA_MOUNT + "/ca.crt")
        client.token_file = SA_MOUNT + "/token"
        return client

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
        token = self.token or (read_text(self.token_file) if getattr(self, "token_file", None) else None)
        if token:
            headers["Authorization"] = "Bearer " + token
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
# Kubernetes' protobuf encoding of request bodies: kubectl's typed clients (create clusterrolebinding,
# create namespace|configmap|secret|serviceaccount, auth can-i, auth whoami) send protobuf, and client-go
# falls back to JSON only for CBOR. The envelope (magic `k8s\0`, runtime.Unknown with the TypeMeta and
# the raw message) and the few messages those commands send are decoded here, field numbers as in
# upstream's generated.proto, into the JSON the server handles. Other kinds are refused with 415, as
# upstream refuses a media type it cannot decode. Answers are JSON, which every client accepts.
# ---------------------------------------------------------------------------------------------------

PROTOBUF_MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
PROTO_MESSAGES = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "raw"), 3: ("contentEncoding", "string"), 4: ("contentType", "string")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"), 5: ("uid", "string"),
                   6: ("resourceVersion", "string"), 7: ("generation", "int"), 11: ("labels", "map"), 12: ("annotations", "map"),
                   13: ("ownerReferences", "OwnerReference*"), 14: ("finalizers", "string*")},
    "OwnerReference": {5: ("apiVersion", "string"), 1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                       6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")},
    "ClusterRoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "Subject*"), 3: ("roleRef", "RoleRef")},
    "Subject": {1: ("kind", "string"), 2: ("apiGroup", "string"), 3: ("name", "string"), 4: ("namespace", "string")},
    "RoleRef": {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")},
    "ClusterRole": {1: ("metadata", "ObjectMeta"), 2: ("rules", "PolicyRule*")},
    "PolicyRule": {1: ("verbs", "string*"), 2: ("apiGroups", "string*"), 3: ("resources", "string*"), 4: ("resourceNames", "string*"),
                   5: ("nonResourceURLs", "string*")},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"), 2: ("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"), 4: ("version", "string"),
                           5: ("resource", "string"), 6: ("subresource", "string"), 7: ("name", "string")},
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta")},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "string*")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", "map"), 3: ("binaryData", "mapbytes"), 4: ("immutable", "bool")},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", "mapbytes"), 3: ("type", "string"), 4: ("stringData", "map"), 5: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 2: ("secrets", "ObjectReference*"), 3: ("imagePullSecrets", "LocalObjectReference*"),
                       4: ("automountServiceAccountToken", "bool")},
    "ObjectReference": {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string")},
    "LocalObjectReference": {1: ("name", "string")},
    # kubectl drain evicts through policy/v1 Eviction, sent as protobuf like its other typed requests
    "Eviction": {1: ("metadata", "ObjectMeta"), 2: ("deleteOptions", "DeleteOptions")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "int"), 4: ("propagationPolicy", "string"), 5: ("dryRun", "string*")},
}
PROTO_KINDS = {"ClusterRoleBinding", "ClusterRole", "SelfSubjectAccessReview", "SelfSubjectReview", "Namespace", "ConfigMap", "Secret", "ServiceAccount",
               "Eviction", "DeleteOptions"}


def proto_decode(data, message):
    """One message of PROTO_MESSAGES as the JSON upstream would have received (empty fields left out, as omitempty)."""
    fields, out = pb_parse(data), {}
    for number, values in fields.items():
        if number not in PROTO_MESSAGES[message]:
            continue
        name, kind = PROTO_MESSAGES[message][number]
        repeated, kind = kind.endswith("*"), kind.rstrip("*")
        if kind in ("map", "mapbytes"):
            entries = [pb_parse(v) for v in values]
            value = {pb_one(e, 1, b"").decode(): (b64(pb_one(e, 2, b"")) if kind == "mapbytes" else pb_one(e, 2, b"").decode()) for e in entries}
        else:
            def one(v):
                if kind == "string":
                    return v.decode()
                if kind == "raw":
                    return v
                if kind in ("int", "bool"):
                    return bool(v) if kind == "bool" else v
                return proto_decode(v, kind)
            value = [one(v) for v in values] if repeated else one(values[-1])
        if value not in ("", 0, False, None, [], {}) or kind == "bool" and number in fields:
            out[name] = value
    return out


def decode_protobuf_object(data):
    """An object in Kubernetes' protobuf envelope as JSON, or a Status 415 for what this stand-in cannot read."""
    if not data.startswith(b"k8s\x00"):
        raise Status(400, "BadRequest", "the body of the request was in an unknown format: provided data does not appear to be a protobuf message, "
                     "expected prefix [107 56 115 0]")
    unknown = proto_decode(data[4:], "Unknown")
    type_meta = unknown.get("typeMeta") or {}
    if type_meta.get("kind") not in PROTO_KINDS:
        raise Status(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json, "
                     "application/yaml (this test stand-in decodes protobuf only for %s, not %s)"
                     % (", ".join(sorted(PROTO_KINDS)), type_meta.get("kind") or "a message without a kind"))
    obj = proto_decode(unknown.get("raw") or b"", type_meta["kind"])
    obj["apiVersion"], obj["kind"] = type_meta.get("apiVersion", ""), type_meta["kind"]
    return obj


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
    "system:controller:deployment-controller": [
        rule(("get", "list", "watch", "update"), ("apps", "extensions"), ("deployments",)),
        rule(("update",), ("apps", "extensions"), ("deployments/status", "deployments/finalizers")),
        rule(("create", "delete", "get", "list", "patch", "update", "watch"), ("apps", "extensions"), ("replicasets",)),
        rule(("get", "list", "update", "watch"), ("",), ("pods",)), EVENTS,
    ],
    "system:controller:replicaset-controller": [
        rule(("get", "list", "update", "watch"), ("apps", "extensions"), ("replicasets",)),
        rule(("update",), ("apps", "extensions"), ("replicasets/status", "replicasets/finalizers")),
        rule(("create", "delete", "list", "patch", "watch"), ("",), ("pods",)), EVENTS,
    ],
    "system:controller:endpoint-controller": [
        rule(READ, ("",), ("services", "pods")), rule(("create", "delete", "get", "list", "update"), ("",), ("endpoints",)),
        rule(("create",), ("",), ("endpoints/restricted",)), EVENTS,
    ],
    "system:controller:endpointslice-controller": [
        rule(("get", "list", "watch"), ("",), ("services", "pods", "nodes")),
        rule(("create", "delete", "get", "list", "update"), ("discovery.k8s.io",), ("endpointslices",)), EVENTS,
    ],
    "system:controller:service-account-controller": [rule(("create",), ("",), ("serviceaccounts",)), EVENTS],
    "system:controller:root-ca-cert-publisher": [rule(("create", "update"), ("",), ("configmaps",)), EVENTS],
    "system:controller:generic-garbage-collector": [rule(("get", "list", "watch", "patch", "update", "delete"), ("*",), ("*",)), EVENTS],
}
# The controllers the controller-manager stand-in runs, each as its own service account with
# --use-service-account-credentials (as upstream: the roles above, bound in kube-system).
CONTROLLER_ACCOUNTS = ("node-controller", "deployment-controller", "replicaset-controller", "endpoint-controller", "endpointslice-controller",
                       "service-account-controller", "root-ca-cert-publisher", "generic-garbage-collector")


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
}
BOOTSTRAP_CLUSTER_ROLE_BINDINGS.update({"system:controller:" + name: ("system:controller:" + name, [subject("ServiceAccount", name, "kube-system")])
                                        for name in CONTROLLER_ACCOUNTS})

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


# Strategic merge patch: the merge keys of the lists upstream's types mark `patchStrategy:"merge"`, by the
# list's field name (and, where one name has two keys, the field holding the list). Other lists are
# replaced whole, as upstream replaces atomic lists (taints, tolerations, subjects, rules).
SMP_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "volumes": "name", "volumeMounts": "mountPath",
    "volumeDevices": "devicePath", "env": "name", "imagePullSecrets": "name", "hostAliases": "ip", "conditions": "type",
    "addresses": "type", "ownerReferences": "uid", "podIPs": "ip", "hostIPs": "ip", "resourceClaims": "name", "schedulingGates": "name",
}
SMP_PRIMITIVE_MERGE = {"finalizers"}


def smp_merge_key(key, parents):
    if key == "ports":  # a container's ports merge by containerPort; a Service's by port
        return "containerPort" if any(p in ("containers", "initContainers", "ephemeralContainers") for p in parents) else "port"
    return SMP_MERGE_KEYS.get(key)


def strategic_merge_patch(target, patch, parents=()):
    """Upstream's strategic merge patch on JSON: merge keys, `$patch` (replace, delete, merge), `$retainKeys`,
    `$deleteFromPrimitiveList/<f>` and `$setElementOrder/<f>`; null deletes a field."""
    if not isinstance(patch, dict):
        return patch
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    orders = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = strategic_merge_patch(result.get(key), value, parents + (key,))
        elif isinstance(value, list) and smp_merge_key(key, parents) and all(isinstance(v, dict) for v in value):
            result[key] = smp_merge_list(result.get(key) or [], value, smp_merge_key(key, parents), parents + (key,))
        elif isinstance(value, list) and key in SMP_PRIMITIVE_MERGE:
            result[key] = list(result.get(key) or []) + [v for v in value if v not in (result.get(key) or [])]
        else:
            result[key] = value
    for field, order in orders.items():
        key = smp_merge_key(field, parents)
        if isinstance(result.get(field), list):
            ident = (lambda x: x.get(key) if isinstance(x, dict) else x) if key else (lambda x: x)
            wanted = [ident(o) for o in order or []]
            result[field] = sorted(result[field], key=lambda x: wanted.index(ident(x)) if ident(x) in wanted else len(wanted))
    if "$retainKeys" in patch:
        result = {k: v for k, v in result.items() if k in patch["$retainKeys"]}
    return result


def smp_merge_list(target, patch, key, parents):
    if any(item.get("$patch") == "replace" for item in patch):
        return [{k: v for k, v in item.items() if k != "$patch"} for item in patch if item.get("$patch") != "replace"]
    result = [dict(x) if isinstance(x, dict) else x for x in target]
    for item in patch:
        at = next((i for i, x in enumerate(result) if isinstance(x, dict) and x.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            result = [x for x in result if not (isinstance(x, dict) and x.get(key) == item.get(key))]
        elif at is None:
            result.append(strategic_merge_patch({}, item, parents))
        else:
            result[at] = strategic_merge_patch(result[at], item, parents)
    return result


# Server-side apply (PATCH with application/apply-patch+yaml): the body is the object as its field manager
# wants it. What each manager applied is kept in metadata.managedFields (operation Apply, fieldsV1: a tree of
# `f:<field>` keys, lists as whole fields); a field the manager applied last time and no longer does is
# removed, unless another manager applied it too; the rest merges as a strategic merge patch (lists by their
# merge keys), so fields others set stay. Not modelled: fields set by update/patch have no manager here, so an
# apply never conflicts with them (upstream answers 409 unless force=true); associative lists are whole fields.
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_SKIPPED = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"), ("metadata", "managedFields"),
                 ("metadata", "resourceVersion"), ("status",)}


def applied_paths(obj, parents=()):
    """The fields an apply body sets: a path per leaf value, a list being one field."""
    paths = set()
    for key, value in (obj or {}).items():
        path = parents + (key,)
        if path in APPLY_SKIPPED or path[:1] == ("status",):
            continue
        if isinstance(value, dict) and value:
            paths |= applied_paths(value, path)
        else:
            paths.add(path)
    return paths


def fields_v1(paths):
    tree = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault("f:" + key, {})
    return tree


def paths_of_fields(tree, parents=()):
    paths = set()
    for key, sub in (tree or {}).items():
        if not key.startswith("f:"):
            continue
        path = parents + (key[2:],)
        paths |= paths_of_fields(sub, path) if sub else {path}
    return paths


def managed_paths(obj, manager=None, but=None):
    """The fields the Apply entries of `manager` (or of every manager but `but`) own."""
    paths = set()
    for entry in dig(obj, "metadata", "managedFields", default=[]) or []:
        if entry.get("operation") != "Apply" or (manager is not None and entry.get("manager") != manager) or entry.get("manager") == but:
            continue
        paths |= paths_of_fields(entry.get("fieldsV1"))
    return paths


def remove_path(obj, path):
    parent = dig(obj, *path[:-1]) if len(path) > 1 else obj
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def server_side_applied(old, config, manager, api_version):
    """The object after `manager` applies `config` (old None: the object it creates)."""
    paths = applied_paths(config)
    body = {k: v for k, v in config.items() if k != "status"}
    body["metadata"] = {k: v for k, v in (config.get("metadata") or {}).items() if k not in ("managedFields", "resourceVersion")}
    if old is None:
        new = json.loads(json.dumps(body))
        entries = []
    else:
        new = json.loads(json.dumps(old))
        others = managed_paths(old, but=manager)
        for path in managed_paths(old, manager) - paths - others:
            remove_path(new, path)
        new = strategic_merge_patch(new, body)
        entries = [e for e in dig(old, "metadata", "managedFields", default=[]) or [] if not (e.get("manager") == manager and e.get("operation") == "Apply")]
    mine = {"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": fields_v1(paths)}
    before = next((e for e in dig(old, "metadata", "managedFields", default=[]) or [] if e.get("manager") == manager and e.get("operation") == "Apply"), None)
    if before and before.get("fieldsV1") == mine["fieldsV1"] and before.get("apiVersion") == api_version:
        mine["time"] = before.get("time")  # the same fields applied again: an apply that changes nothing writes nothing
    entries.append(mine)
    new.setdefault("metadata", {})["managedFields"] = entries
    return new


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
        self.status_code = code  # for the audit log
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def reply_json(self, code, obj):
        self.reply(code, json.dumps(obj), "application/json")

    def start_stream(self, ctype="application/json"):
        """A response of unknown length (a watch): chunked, each write sent at once."""
        self.status_code = 200
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

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


CAUSE_REASONS = (("Invalid value", "FieldValueInvalid"), ("Required value", "FieldValueRequired"), ("Forbidden", "FieldValueForbidden"),
                 ("Unsupported value", "FieldValueNotSupported"), ("Internal error", "InternalError"))


def invalid(resource, name, problems):
    """422 Invalid with each problem (`field: message`) as a cause, as upstream's field errors: kubectl prints
    `The <Kind> "<name>" is invalid: <field>: <message>` from the causes."""
    text = problems[0] if len(problems) == 1 else "[%s]" % ", ".join(problems)
    causes = []
    for problem in problems:
        field, _, message = problem.partition(": ")
        reason = next((r for prefix, r in CAUSE_REASONS if message.startswith(prefix)), "FieldValueInvalid")
        causes.append({"reason": reason, "message": message, "field": field})
    body = {"name": name, "kind": resource.kind, "causes": causes}
    if resource.group:
        body["group"] = resource.group
    return Status(422, "Invalid", '%s "%s" is invalid: %s' % (resource.kind, name, text), body)


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
    return policy


class AuditLog:
    """--audit-log-path with --audit-policy-file, as upstream's log backend writes it: one JSON audit.k8s.io/v1
    Event per line for each request whose first matching rule's level is not None, at stage ResponseComplete
    (unless the policy omits it), with the user, verb, URI, object, source address, user agent and response
    code. Not modelled: request and response bodies (levels Request and RequestResponse log as Metadata
    does), the stages before ResponseComplete, rotation (--audit-log-maxsize and friends are accepted, the
    file grows)."""

    def __init__(self, path, policy):
        self.path, self.policy, self.lock = path, policy, threading.Lock()
        if path != "-":
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)

    def level(self, user, req, path):
        for rule in self.policy.get("rules") or []:
            if rule.get("users") and user.name not in rule["users"]:
                continue
            if rule.get("userGroups") and not set(user.groups) & set(rule["userGroups"]):
                continue
            if rule.get("verbs") and req.get("verb") not in rule["verbs"]:
                continue
            if rule.get("namespaces") is not None and (req.get("namespace") or "") not in rule["namespaces"]:
                continue
            if rule.get("nonResourceURLs") and (path is None or not any(
                    path == u or (u.endswith("*") and path.startswith(u[:-1])) for u in rule["nonResourceURLs"])):
                continue
            if rule.get("resources") and (path is not None or not any(self.resource_matches(g, req) for g in rule["resources"])):
                continue
            return rule.get("level")
        return "None"

    @staticmethod
    def resource_matches(rule, req):
        if (rule.get("group") or "") != (req.get("group") or ""):
            return False
        plural, sub = req.get("resource"), req.get("subresource")
        wanted = rule.get("resources") or []
        full = "%s/%s" % (plural, sub) if sub else plural
        if wanted and not (full in wanted or "*" in wanted or (sub and ("%s/*" % plural in wanted or "*/%s" % sub in wanted))):
            return False
        return not rule.get("resourceNames") or req.get("name") in rule["resourceNames"]

    def record(self, h, method, uri, user, req, code, received):
        if user is None or req is None or "ResponseComplete" in (self.policy.get("omitStages") or []):
            return
        path = req.get("path")
        level = self.level(user, req, path)
        if level == "None":
            return
        stamp = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": str(uuid.uuid4()),
                 "stage": "ResponseComplete", "requestURI": uri, "verb": req.get("verb"),
                 "user": {"username": user.name, "groups": user.groups}, "sourceIPs": [h.client_address[0]]}
        if h.headers.get("User-Agent"):
            event["userAgent"] = h.headers.get("User-Agent")
        if path is None:
            ref = {"resource": req.get("resource"), "namespace": req.get("namespace"), "name": req.get("name"),
                   "apiGroup": req.get("group"), "apiVersion": getattr(req.get("res"), "version", None), "subresource": req.get("subresource")}
            event["objectRef"] = {k: v for k, v in ref.items() if v}
        event.update({"responseStatus": {"metadata": {}, "code": code}, "requestReceivedTimestamp": stamp(received),
                      "stageTimestamp": stamp(time.time())})
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with self.lock:
            if self.path == "-":
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                with open(self.path, "a") as f:
                    f.write(line)


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


# ---------------------------------------------------------------------------------------------------
# Discovery and OpenAPI as kubectl reads them. Discovery: the legacy documents (/api, /apis, one
# APIResourceList per group-version) and, when the client asks for it, the aggregated document
# (apidiscovery.k8s.io/v2, what kubectl 1.30+ asks for first: two requests instead of one per group).
# OpenAPI: an index and one document per group-version whose PATCH operations carry their kind and the
# `fieldValidation` query parameter. That is all kubectl reads: with the parameter there, it leaves
# validation to the server (fieldValidation=Strict) instead of checking manifests against schemas, and
# without a strategic-merge request body it computes apply's patches from its compiled-in types. The
# documents hold no schemas: the stand-in does not reject unknown fields (upstream does, with Strict).
# /openapi/v2 is a valid protobuf document with no definitions, so that kubectl's client-side
# validation (a List on `kubectl replace -f -`) finds nothing to check instead of failing to download.
# ---------------------------------------------------------------------------------------------------

def served_group_versions():
    """[(group, version, [Resource...])] in discovery order: the core group, then the others by name."""
    groups = {}
    for r in RESOURCES + VIRTUAL:
        groups.setdefault((r.group, r.version), []).append(r)
    return sorted(((g, v, rs) for (g, v), rs in groups.items()), key=lambda x: (x[0] != "", x[0]))


def resource_verbs(r):
    return ["create"] if r in VIRTUAL else list(RESOURCE_VERBS)


def api_resource_list(group, version):
    listed = next((rs for g, v, rs in served_group_versions() if (g, v) == (group, version)), None)
    if listed is None:
        return None
    resources = []
    for r in listed:
        entry = {"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced, "kind": r.kind, "verbs": resource_verbs(r)}
        if r.short:
            entry["shortNames"] = list(r.short)
        if r.plural in CATEGORY_ALL:
            entry["categories"] = ["all"]
        resources.append(entry)
        for sub, kind, verbs in SUBRESOURCES.get(r.plural, ()):
            entry = {"name": "%s/%s" % (r.plural, sub), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": list(verbs)}
            if kind in SUBRESOURCE_GROUPS:
                entry["group"], entry["version"] = SUBRESOURCE_GROUPS[kind]
            resources.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (group, version) if group else version, "resources": resources}


def aggregated_discovery(core, api_version):
    """APIGroupDiscoveryList for /api (core) or /apis."""
    items = []
    for group, version, listed in served_group_versions():
        if (group == "") != core:
            continue
        resources = []
        for r in listed:
            entry = {"resource": r.plural, "responseKind": {"group": group, "version": version, "kind": r.kind},
                     "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.kind.lower(), "verbs": resource_verbs(r)}
            if r.short:
                entry["shortNames"] = list(r.short)
            if r.plural in CATEGORY_ALL:
                entry["categories"] = ["all"]
            subs = [{"subresource": sub, "responseKind": dict(zip(("group", "version"), SUBRESOURCE_GROUPS.get(kind, (group, version))), kind=kind),
                     "verbs": list(verbs)} for sub, kind, verbs in SUBRESOURCES.get(r.plural, ())]
            if subs:
                entry["subresources"] = subs
            resources.append(entry)
        items.append({"metadata": {"name": group, "creationTimestamp": None},
                      "versions": [{"version": version, "resources": resources, "freshness": "Current"}]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}


def aggregated_discovery_wanted(accept):
    """The apidiscovery version the Accept header asks for in JSON (v2 before v2beta1, as client-go orders them), or None."""
    for media in (accept or "").split(","):
        params = dict(p.strip().split("=", 1) for p in media.split(";")[1:] if "=" in p)
        if media.split(";")[0].strip() == "application/json" and params.get("g") == "apidiscovery.k8s.io" and \
                params.get("as") == "APIGroupDiscoveryList" and params.get("v") in ("v2", "v2beta1"):
            return params["v"]
    return None


def openapi_v3_path(group, version):
    return "api/%s" % version if not group else "apis/%s/%s" % (group, version)


def openapi_v3_document(group, version):
    """The group-version's OpenAPI v3 document: each stored resource's item path with a PATCH operation."""
    listed = next((rs for g, v, rs in served_group_versions() if (g, v) == (group, version)), None)
    if listed is None:
        return None
    paths = {}
    base = "/" + openapi_v3_path(group, version)
    query = lambda name: {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for r in listed:
        if r in VIRTUAL:
            continue
        path = base + ("/namespaces/{namespace}" if r.namespaced else "") + "/%s/{name}" % r.plural
        paths[path] = {"patch": {"description": "partially update the specified %s" % r.kind,
                                 "operationId": "patch%s%s%s" % (r.group.split(".")[0].capitalize() or "Core", version.capitalize(), r.kind),
                                 "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")],
                                 "responses": {"200": {"description": "OK"}},
                                 "x-kubernetes-action": "patch",
                                 "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION}, "paths": paths, "components": {"schemas": {}}}


def openapi_v3_index():
    paths = {}
    for group, version, _ in served_group_versions():
        doc = json.dumps(openapi_v3_document(group, version), sort_keys=True).encode()
        paths[openapi_v3_path(group, version)] = {
            "serverRelativeURL": "/openapi/v3/%s?hash=%s" % (openapi_v3_path(group, version), hashlib.sha512(doc).hexdigest()[:128].upper())}
    return {"paths": paths}


def openapi_v2_protobuf():
    """gnostic's openapi_v2.Document: swagger (1), info (2: title 1, version 2), no paths or definitions."""
    return pb_bytes(1, "2.0") + pb_bytes(2, pb_bytes(1, "Kubernetes") + pb_bytes(2, VERSION))


# ---------------------------------------------------------------------------------------------------
# Server-side printing: a Table (meta.k8s.io/v1) when the client asks for one, as kubectl does for
# `get` without -o json|yaml|name. kubectl prints the cells as they are, so the columns are upstream's
# (pkg/printers/internalversion), with their priority (1: only with -o wide).
# ---------------------------------------------------------------------------------------------------

def human_duration(seconds):
    """apimachinery's duration.HumanDuration: what the Age column says."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    minutes = s // 60
    if minutes < 10:
        return "%dm%ds" % (minutes, s % 60) if s % 60 else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    hours = s // 3600
    if hours < 8:
        return "%dh%dm" % (hours, minutes % 60) if minutes % 60 else "%dh" % hours
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        return "%dd%dh" % (hours // 24, hours % 24) if hours % 24 else "%dd" % (hours // 24)
    if hours < 24 * 365 * 2:
        return "%dd" % (hours // 24)
    years, days = hours // (24 * 365), (hours // 24) % 365
    if hours < 24 * 365 * 8:
        return "%dy%dd" % (years, days) if days else "%dy" % years
    return "%dy" % years


def age_of(obj, field=("metadata", "creationTimestamp")):
    stamp = dig(obj, *field)
    return human_duration(time.time() - parse_time(stamp)) if stamp else "<unknown>"


def node_status_text(node):
    ready = next((c for c in dig(node, "status", "conditions", default=[]) or [] if c.get("type") == "Ready"), None)
    text = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    return text + (",SchedulingDisabled" if dig(node, "spec", "unschedulable") else "")


def node_roles(node):
    labels = dig(node, "metadata", "labels", default={}) or {}
    roles = sorted({k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1]} |
                   {v for k, v in labels.items() if k == "kubernetes.io/role" and v})
    return ",".join(roles) or "<none>"


def pod_status_text(pod):
    """kubectl's STATUS of a pod: the reason of its last waiting or terminated container, else its phase."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for i, c in enumerate(status.get("initContainerStatuses") or []):
        term, wait = dig(c, "state", "terminated"), dig(c, "state", "waiting")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + (term.get("reason") or "ExitCode:%d" % term.get("exitCode", 0))
        elif wait and wait.get("reason") not in (None, "", "PodInitializing"):
            reason = "Init:" + wait["reason"]
        else:
            reason = "Init:%d/%d" % (i, len(dig(pod, "spec", "initContainers", default=[]) or []))
        break
    else:
        running = False
        for c in reversed(status.get("containerStatuses") or []):
            term, wait = dig(c, "state", "terminated"), dig(c, "state", "waiting")
            if wait and wait.get("reason"):
                reason = wait["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = "Signal:%d" % term["signal"] if term.get("signal") else "ExitCode:%d" % term.get("exitCode", 0)
            elif c.get("ready") and dig(c, "state", "running"):
                running = True
        if reason == "Completed" and running:
            reason = "Running"
    if dig(pod, "metadata", "deletionTimestamp"):
        reason = "Terminating"
    return reason


def pod_restarts(pod):
    statuses = dig(pod, "status", "containerStatuses", default=[]) or []
    return sum(int(c.get("restartCount") or 0) for c in statuses)


def service_ports(svc):
    ports = []
    for p in dig(svc, "spec", "ports", default=[]) or []:
        text = "%s/%s" % (p.get("port"), p.get("protocol", "TCP"))
        if p.get("nodePort"):
            text = "%s:%s/%s" % (p.get("port"), p["nodePort"], p.get("protocol", "TCP"))
        ports.append(text)
    return ",".join(ports) or "<none>"


def column(name, kind="string", priority=0, fmt=""):
    return {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}


NAME_COLUMN = column("Name", fmt="name")
TABLE_PRINTERS = {
    "nodes": ([NAME_COLUMN, column("Status"), column("Roles"), column("Age"), column("Version"), column("Internal-IP", priority=1),
               column("External-IP", priority=1), column("OS-Image", priority=1), column("Kernel-Version", priority=1),
               column("Container-Runtime", priority=1)],
              lambda n: [n["metadata"]["name"], node_status_text(n), node_roles(n), age_of(n), dig(n, "status", "nodeInfo", "kubeletVersion", default="")]
              + [next((a["address"] for a in dig(n, "status", "addresses", default=[]) or [] if a.get("type") == t), "<none>") for t in ("InternalIP", "ExternalIP")]
              + [dig(n, "status", "nodeInfo", k, default="<unknown>") for k in ("osImage", "kernelVersion", "containerRuntimeVersion")]),
    "pods": ([NAME_COLUMN, column("Ready"), column("Status"), column("Restarts", "string"), column("Age"), column("IP", priority=1),
              column("Node", priority=1), column("Nominated Node", priority=1), column("Readiness Gates", priority=1)],
             lambda p: [p["metadata"]["name"], "%d/%d" % (sum(1 for c in dig(p, "status", "containerStatuses", default=[]) or [] if c.get("ready")),
                                                        len(dig(p, "spec", "containers", default=[]) or [])),
                        pod_status_text(p), str(pod_restarts(p)), age_of(p), dig(p, "status", "podIP", default="<none>") or "<none>",
                        dig(p, "spec", "nodeName", default="<none>") or "<none>", "<none>", "<none>"]),
    "services": ([NAME_COLUMN, column("Type"), column("Cluster-IP"), column("External-IP"), column("Port(s)"), column("Age"),
                  column("Selector", priority=1)],
                 lambda s: [s["metadata"]["name"], dig(s, "spec", "type", default="ClusterIP"), dig(s, "spec", "clusterIP", default="<none>"),
                            ",".join(dig(s, "spec", "externalIPs", default=[]) or []) or "<none>", service_ports(s), age_of(s),
                            ",".join("%s=%s" % kv for kv in sorted((dig(s, "spec", "selector", default={}) or {}).items())) or "<none>"]),
    "namespaces": ([NAME_COLUMN, column("Status"), column("Age")],
                   lambda n: [n["metadata"]["name"], dig(n, "status", "phase", default="Active"), age_of(n)]),
    "deployments": ([NAME_COLUMN, column("Ready"), column("Up-to-date", "integer"), column("Available", "integer"), column("Age")],
                    lambda d: [d["metadata"]["name"], "%d/%d" % (dig(d, "status", "readyReplicas", default=0) or 0, dig(d, "spec", "replicas", default=1)),
                               dig(d, "status", "updatedReplicas", default=0) or 0, dig(d, "status", "availableReplicas", default=0) or 0, age_of(d)]),
    "replicasets": ([NAME_COLUMN, column("Desired", "integer"), column("Current", "integer"), column("Ready", "integer"), column("Age")],
                    lambda r: [r["metadata"]["name"], dig(r, "spec", "replicas", default=1), dig(r, "status", "replicas", default=0) or 0,
                               dig(r, "status", "readyReplicas", default=0) or 0, age_of(r)]),
    "endpoints": ([NAME_COLUMN, column("Endpoints"), column("Age")],
                  lambda e: [e["metadata"]["name"], ",".join("%s:%s" % (a["ip"], p.get("port")) for s in e.get("subsets") or []
                                                             for a in s.get("addresses") or [] for p in s.get("ports") or [{}]) or "<none>", age_of(e)]),
    "configmaps": ([NAME_COLUMN, column("Data", "integer"), column("Age")],
                   lambda c: [c["metadata"]["name"], len(c.get("data") or {}) + len(c.get("binaryData") or {}), age_of(c)]),
    "secrets": ([NAME_COLUMN, column("Type"), column("Data", "integer"), column("Age")],
                lambda c: [c["metadata"]["name"], c.get("type", "Opaque"), len(c.get("data") or {}), age_of(c)]),
    "clusterrolebindings": ([NAME_COLUMN, column("Role"), column("Age")],
                            lambda b: [b["metadata"]["name"], "ClusterRole/" + dig(b, "roleRef", "name", default=""), age_of(b)]),
    "rolebindings": ([NAME_COLUMN, column("Role"), column("Age")],
                     lambda b: [b["metadata"]["name"], "%s/%s" % (dig(b, "roleRef", "kind", default=""), dig(b, "roleRef", "name", default="")), age_of(b)]),
    "leases": ([NAME_COLUMN, column("Holder"), column("Age")],
               lambda l: [l["metadata"]["name"], dig(l, "spec", "holderIdentity", default="") or "", age_of(l)]),
}
DEFAULT_PRINTER = ([NAME_COLUMN, column("Age")], lambda o: [o["metadata"]["name"], age_of(o)])


def table_wanted(accept):
    return any("as=Table" in media and "g=meta.k8s.io" in media for media in (accept or "").split(","))


def as_table(resource, objects, revision):
    columns, cells = TABLE_PRINTERS.get(resource.plural, DEFAULT_PRINTER)
    rows = [{"cells": cells(o), "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata", {})}}
            for o in objects]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(revision)},
            "columnDefinitions": columns, "rows": rows}


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
        policy = check_audit_policy(flags.get("audit-policy-file")) if flags.get("audit-policy-file") else None
        # Upstream writes no log without a policy (every request at level None).
        self.audit = AuditLog(flags.get("audit-log-path"), policy) if policy and flags.get("audit-log-path") else None
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
        if not any(a.get("ip") == self.advertise for a in addresses):
            addresses = addresses + [{"ip": self.advertise}]
            obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "default",
                   "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                   "subsets": [{"addresses": addresses, "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}]}]}
            if current is None:
                self.store_new(resource, "default", obj)
            else:
                obj["metadata"] = current["metadata"]
                self.etcd.txn_put(self.key(resource, "default", "kubernetes"), self.encode(resource, obj), "MOD", rev)
        # and its EndpointSlice, which kube-proxy and CoreDNS read, as upstream's endpoints reconciler writes both
        slices = res("endpointslices", "discovery.k8s.io")
        current, rev = self.load(slices, "default", "kubernetes")
        body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
                "endpoints": [{"addresses": [a["ip"]], "conditions": {"ready": True}} for a in addresses],
                "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}]}
        if current is None:
            self.store_new(slices, "default", body)
        elif current.get("endpoints") != body["endpoints"] or current.get("ports") != body["ports"]:
            body["metadata"] = current["metadata"]
            self.etcd.txn_put(self.key(slices, "default", "kubernetes"), self.encode(slices, body), "MOD", rev)

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
        return self.impersonate(h, self.authenticate_client(h))

    def authenticate_client(self, h):
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

    def impersonate(self, h, user):
        """Impersonate-User/-Group/-Uid (kubectl --as, --as-group): each needs the `impersonate` verb, as upstream."""
        name, groups = h.headers.get("Impersonate-User"), h.headers.get_all("Impersonate-Group") or []
        if not name:
            if groups:
                raise bad_request("requested [%s] without impersonating a user" % ", ".join("{Group %s}" % g for g in groups))
            return user
        sa = re.fullmatch(r"system:serviceaccount:([^:]+):([^:]+)", name)
        wanted = [{"verb": "impersonate", "group": "", "resource": "serviceaccounts", "namespace": sa.group(1), "name": sa.group(2)} if sa
                  else {"verb": "impersonate", "group": "", "resource": "users", "name": name}]
        wanted += [{"verb": "impersonate", "group": "", "resource": "groups", "name": g} for g in groups]
        for attrs in wanted:
            if not self.authorize(user, attrs)[0]:
                what = "serviceaccounts" if attrs["resource"] == "serviceaccounts" else attrs["resource"]
                raise Status(403, "Forbidden", '%s "%s" is forbidden: User "%s" cannot impersonate resource "%s" in API group "" at the cluster scope'
                             % (what, attrs["name"], user.name, what), {"name": attrs["name"], "kind": what})
        if sa:
            groups = groups + ["system:serviceaccounts", "system:serviceaccounts:" + sa.group(1)]
        if name != "system:anonymous":
            groups = groups + ["system:authenticated"]
        return User(name, groups, h.headers.get("Impersonate-Uid") or "")

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
            # The graph upstream keeps: a node reads only what the pods bound to it use, and gets tokens for their accounts.
            wanted = "create" if resource == "serviceaccounts" else "get"
            if verb == wanted and attrs.get("name") and self.pod_uses(node, attrs):
                return True, ""
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

    def pod_uses(self, node, attrs):
        """Whether a pod bound to node uses the object attrs names (its configmaps, secrets, claims, service account)."""
        try:
            pods, _ = self.list_objects(res("pods"), attrs.get("namespace"))
        except EtcdError:
            return False
        name = attrs.get("name")
        for pod in pods:
            spec = pod.get("spec") or {}
            if spec.get("nodeName") != node:
                continue
            if attrs["resource"] == "serviceaccounts":
                if spec.get("serviceAccountName", "default") == name:
                    return True
                continue
            containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
            refs = set()
            for v in spec.get("volumes") or []:
                refs |= {("configmaps", dig(v, "configMap", "name")), ("secrets", dig(v, "secret", "secretName")),
                         ("persistentvolumeclaims", dig(v, "persistentVolumeClaim", "claimName"))}
                for source in dig(v, "projected", "sources", default=[]) or []:
                    refs |= {("configmaps", dig(source, "configMap", "name")), ("secrets", dig(source, "secret", "name"))}
            for c in containers:
                for e in c.get("env") or []:
                    refs |= {("configmaps", dig(e, "valueFrom", "configMapKeyRef", "name")), ("secrets", dig(e, "valueFrom", "secretKeyRef", "name"))}
                for e in c.get("envFrom") or []:
                    refs |= {("configmaps", dig(e, "configMapRef", "name")), ("secrets", dig(e, "secretRef", "name"))}
            refs |= {("secrets", s.get("name")) for s in spec.get("imagePullSecrets") or []}
            if (attrs["resource"], name) in refs:
                return True
        return False

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
        if resource.plural == "pods" and resource.group == "":
            if verb == "create" and "kubernetes.io/config.mirror" not in (dig(new or {}, "metadata", "annotations", default={}) or {}):
                raise forbidden(resource, name, 'pod does not have "kubernetes.io/config.mirror" annotation, node "%s" can only create mirror pods' % node)
            if verb in ("update", "patch") and dig(old or {}, "spec", "nodeName") != node:
                raise forbidden(resource, name, 'node "%s" can only update pod status for pods with its own node name' % node)
            if verb == "delete" and dig(old or {}, "spec", "nodeName") != node:
                raise forbidden(resource, name, 'node "%s" can only delete pods with spec.nodeName set to itself' % node)

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
        received, user, req, h.status_code = time.time(), None, None, 0
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
        except OSError:
            raise  # the client went away
        except Exception as e:  # a bug here: a 500 as upstream's panic handler answers, not a dropped connection
            log("request %s %s failed: %r" % (method, h.path, e), "E")
            h.reply_json(500, Status(500, "InternalError", "Internal error occurred: %s" % e).body())
        finally:
            if self.audit:
                self.audit.record(h, method, h.path, user, req, h.status_code, received)

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
        virtual = next((r for r in VIRTUAL if (r.group, r.version, r.plural) == (group, version, plural)), None)
        if virtual:
            return {"verb": verb, "group": group, "resource": plural, "virtual": True, "name": None, "namespace": ns, "res": virtual}
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
        accept = h.headers.get("Accept") or ""
        aggregated = aggregated_discovery_wanted(accept) if path in ("/api", "/apis") else None
        if aggregated:
            body = aggregated_discovery(path == "/api", "apidiscovery.k8s.io/" + aggregated)
            return h.reply(200, json.dumps(body), "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList" % aggregated)
        if path == "/api":
            return h.reply_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": join_host_port(self.advertise, self.port)}]})
        if path == "/apis":
            groups = sorted({g for g, _, _ in served_group_versions() if g})
            return h.reply_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": g + "/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": g + "/v1", "version": "v1"}} for g in groups]})
        if path == "/openapi/v2":
            if "application/json" in accept and "protobuf" not in accept:
                return h.reply_json(200, {"swagger": "2.0", "info": {"title": "Kubernetes", "version": VERSION}, "paths": {}, "definitions": {}})
            return h.reply(200, openapi_v2_protobuf(), "application/octet-stream")
        if path == "/openapi/v3":
            return h.reply_json(200, openapi_v3_index())
        m = re.fullmatch(r"/openapi/v3/api/(v1)|/openapi/v3/apis/([^/]+)/([^/]+)", path)
        if m:
            doc = openapi_v3_document(m.group(2) or "", m.group(1) or m.group(3))
            if doc is not None:
                return h.reply_json(200, doc)
        m = re.fullmatch(r"/api/(v1)|/apis/([^/]+)/([^/]+)", path)
        if m:
            listed = api_resource_list(m.group(2) or "", m.group(1) or m.group(3))
            if listed:
                return h.reply_json(200, listed)
        if path.startswith("/apis/") and path.count("/") == 2:
            group = path.split("/")[2]
            if any(g == group for g, _, _ in served_group_versions()):
                return h.reply_json(200, {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [{"groupVersion": group + "/v1", "version": "v1"}],
                                          "preferredVersion": {"groupVersion": group + "/v1", "version": "v1"}})
        return h.reply(404, "404 page not found\n")

    def resource_request(self, h, user, req, query):
        if req.get("virtual"):
            return self.virtual_request(user, req, self.parse_any(h))
        resource, ns, name, sub, verb = req["res"], req["namespace"], req["name"], req["subresource"], req["verb"]
        if resource.namespaced and not ns and verb not in ("list", "watch"):
            raise Status(404, "NotFound", "the server could not find the requested resource")
        if verb == "watch":
            return self.watch(h, resource, ns, query)
        if verb == "list":
            listed = self.list_response(resource, ns, query)
            if table_wanted(h.headers.get("Accept")):
                return 200, as_table(resource, listed["items"], listed["metadata"]["resourceVersion"])
            return 200, listed
        if sub == "proxy" and resource.plural == "nodes":
            return self.proxy_to_kubelet(h, name, req["extra"], query)
        if sub == "token" and resource.plural == "serviceaccounts" and verb == "create":
            return self.token_request(resource, ns, name, self.parse_any(h))
        if resource.plural == "pods" and sub == "binding" and verb == "create":
            return self.bind_pod(user, ns, name, self.parse_any(h))
        if resource.plural == "pods" and sub == "log" and verb == "get":
            return self.pod_log(h, ns, name, dict(query))
        if resource.plural == "pods" and sub == "eviction" and verb == "create":
            return self.evict_pod(user, resource, ns, name, self.parse_any(h))
        if sub not in (None, "status"):
            raise Status(404, "NotFound", "the server could not find the requested resource")
        if verb == "get":
            obj, _ = self.load(resource, ns, name)
            if obj is None:
                raise not_found(resource, name)
            if table_wanted(h.headers.get("Accept")):
                return 200, as_table(resource, [obj], obj["metadata"]["resourceVersion"])
            return 200, obj
        if verb == "create":
            return self.create(user, resource, ns, self.parse_body(h, resource))
        if verb == "delete":
            options = self.parse_any(h)
            if query.get("gracePeriodSeconds"):
                options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
            return self.delete(user, resource, ns, name, options)
        if verb == "deletecollection":
            raise Status(405, "MethodNotAllowed", "deletecollection is not supported by this test stand-in")
        if verb == "patch" and (h.headers.get("Content-Type") or "").split(";")[0].strip() == APPLY_PATCH:
            return self.update(user, resource, ns, name, sub, verb, h, apply_as=self.apply_manager(query))
        if verb == "patch" and query.get("force") is not None:
            raise Status(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
                         {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueForbidden",
                          "message": "Forbidden: may not be specified for non-apply patch", "field": "force"}]})
        return self.update(user, resource, ns, name, sub, verb, h)

    @staticmethod
    def read_object(h):
        """The request's object: JSON, YAML or Kubernetes protobuf (by its Content-Type); {} for an empty body."""
        raw = h.read_body()
        if (h.headers.get("Content-Type") or "").split(";")[0].strip() == PROTOBUF_MEDIA_TYPE:
            return decode_protobuf_object(raw)
        if not raw.strip():
            return {}
        try:
            return json.loads(raw) if raw.strip().startswith(b"{") else load_yaml(raw.decode())
        except Exception as e:  # ValueError, yaml.YAMLError
            raise bad_request("the body of the request was in an unknown format: %s" % e)

    def parse_any(self, h):
        """A request body of another kind than the resource (Binding, DeleteOptions, reviews), or {}."""
        obj = self.read_object(h)
        return obj if isinstance(obj, dict) else {}

    def parse_body(self, h, resource):
        obj = self.read_object(h)
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
            field_selector_terms(resource, field)
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
        if resource.plural == "pods":
            self.admit_pod(ns, name, obj)
        self.validate(resource, ns, name, obj, None)
        return 201, self.store_new(resource, ns, obj)

    # -- pods: defaults, the admission plugins that change them, binding, graceful deletion, logs --

    def admit_pod(self, ns, name, pod):
        """Upstream's defaults for a new pod, then what the ServiceAccount, Priority and DefaultTolerationSeconds
        admission plugins do to it."""
        spec = pod.setdefault("spec", {})
        containers = spec.get("containers") or []
        if not containers:
            raise invalid(res("pods"), name, ["spec.containers: Required value"])
        for field in ("initContainers", "containers"):
            for i, c in enumerate(spec.get(field) or []):
                if not c.get("image"):
                    raise invalid(res("pods"), name, ["spec.%s[%d].image: Required value" % (field, i)])
                if not re.fullmatch(DNS1123_LABEL, c.get("name") or ""):
                    raise invalid(res("pods"), name, ['spec.%s[%d].name: Invalid value: "%s": a lowercase RFC 1123 label must consist of lower '
                                                      "case alphanumeric characters or '-'" % (field, i, c.get("name", ""))])
                tag = c["image"].rsplit("/", 1)[-1]
                c.setdefault("imagePullPolicy", "Always" if ":" not in tag.split("@")[0] or tag.endswith(":latest") else "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                c.setdefault("resources", {})
        for key, value in (("restartPolicy", "Always"), ("dnsPolicy", "ClusterFirst"), ("terminationGracePeriodSeconds", 30),
                           ("schedulerName", "default-scheduler"), ("securityContext", {}), ("enableServiceLinks", True)):
            spec.setdefault(key, value)
        mirror = "kubernetes.io/config.mirror" in (dig(pod, "metadata", "annotations", default={}) or {})
        if "ServiceAccount" in self.enabled_admission and not mirror:
            sa_name = spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
            spec["serviceAccount"] = sa_name
            sa, _ = self.load(res("serviceaccounts"), ns, sa_name)
            if sa is None:
                raise forbidden(res("pods"), name, 'error looking up service account %s/%s: serviceaccount "%s" not found' % (ns, sa_name, sa_name))
            automount = spec.get("automountServiceAccountToken", sa.get("automountServiceAccountToken", True))
            if automount is not False and not any(v.get("name", "").startswith("kube-api-access-") for v in spec.get("volumes") or []):
                volume = "kube-api-access-" + "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
                spec.setdefault("volumes", []).append({"name": volume, "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}})
                for c in (spec.get("initContainers") or []) + containers:
                    c.setdefault("volumeMounts", []).append({"name": volume, "readOnly": True, "mountPath": SA_MOUNT})
        if "Priority" in self.enabled_admission:
            pc_name = spec.get("priorityClassName")
            if pc_name:
                pc, _ = self.load(res("priorityclasses", "scheduling.k8s.io"), None, pc_name)
                if pc is None:
                    raise forbidden(res("pods"), name, "no PriorityClass with name %s was found" % pc_name)
                spec["priority"] = pc.get("value", 0)
                spec.setdefault("preemptionPolicy", pc.get("preemptionPolicy", "PreemptLowerPriority"))
            else:
                spec.setdefault("priority", 0)
        if "DefaultTolerationSeconds" in self.enabled_admission:
            tolerations = spec.setdefault("tolerations", [])
            for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
                if not any(t.get("key") in (key, None, "") and t.get("effect") in ("NoExecute", None, "") for t in tolerations):
                    tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
        pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}

    def bind_pod(self, user, ns, name, binding):
        """pods/binding (and the bindings resource): the scheduler's write of a pod's node."""
        node = dig(binding, "target", "name")
        if not node:
            raise invalid(res("pods"), name, ["target.name: Required value"])
        for _ in range(5):
            pod, revision = self.load(res("pods"), ns, name)
            if pod is None:
                raise not_found(res("pods"), name)
            if dig(pod, "metadata", "deletionTimestamp"):
                raise Status(409, "Conflict", 'Operation cannot be fulfilled on pods/binding "%s": pod %s is being deleted, cannot be assigned to a host'
                             % (name, name), {"name": name, "kind": "pods/binding"})
            if dig(pod, "spec", "nodeName"):
                raise Status(409, "Conflict", 'Operation cannot be fulfilled on pods/binding "%s": pod %s is already assigned to node "%s"'
                             % (name, name, pod["spec"]["nodeName"]), {"name": name, "kind": "pods/binding"})
            pod["spec"]["nodeName"] = node
            conditions = [c for c in dig(pod, "status", "conditions", default=[]) or [] if c.get("type") != "PodScheduled"]
            pod.setdefault("status", {})["conditions"] = conditions + [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                                                        "lastTransitionTime": now_rfc3339()}]
            try:
                self.store_update(res("pods"), ns, name, pod, revision)
                return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
            except Status as s:
                if s.code != 409:
                    raise
        raise conflict(res("pods"), name)

    def pod_log(self, h, ns, name, query):
        """pods/log, served by the kubelet of the pod's node (containerLogs), as upstream proxies it."""
        pod, _ = self.load(res("pods"), ns, name)
        if pod is None:
            raise not_found(res("pods"), name)
        names = [c["name"] for c in dig(pod, "spec", "containers", default=[]) or []]
        container = query.pop("container", None) or (names[0] if len(names) == 1 else None)
        if container is None:
            raise bad_request("a container name must be specified for pod %s, choose one of: [%s]" % (name, " ".join(names)))
        if not dig(pod, "spec", "nodeName"):
            raise bad_request("pod %s does not have a host assigned" % name)
        return self.proxy_to_kubelet(h, pod["spec"]["nodeName"], "containerLogs/%s/%s/%s" % (ns, name, container), query)

    @staticmethod
    def apply_manager(query):
        manager = query.get("fieldManager") or ""
        if not manager:
            raise Status(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
                         {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired",
                          "message": "Required value: is required for apply patch", "field": "fieldManager"}]})
        return manager

    def apply_config(self, h, resource, ns, name):
        """A server-side apply body: the whole object, of the URL's kind, name and namespace."""
        config = self.read_object(h)
        if not isinstance(config, dict) or not config.get("kind") or not config.get("apiVersion"):
            raise bad_request("error decoding patch: Object 'Kind' or 'apiVersion' is missing in the apply configuration")
        if config["kind"] != resource.kind or config["apiVersion"] != resource.api_version:
            raise bad_request("the kind in the data (%s, %s) does not match the expected kind (%s)" % (config["apiVersion"], config["kind"], resource.kind))
        meta = config.get("metadata") or {}
        if meta.get("name") != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (meta.get("name"), name))
        if resource.namespaced and meta.get("namespace") not in (None, ns):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        return config

    def update(self, user, resource, ns, name, sub, verb, h, apply_as=None):
        if apply_as is not None:
            if sub is not None:
                raise Status(415, "UnsupportedMediaType", "server-side apply of a subresource is not supported by this test stand-in")
            config = self.apply_config(h, resource, ns, name)
        elif verb == "update":
            body = self.parse_body(h, resource)
        else:
            ctype, raw = (h.headers.get("Content-Type") or "").split(";")[0].strip(), h.read_body()
        for _ in range(5):  # a patch is re-applied to a fresh read when another writer won the race
            old, stale, revision = self.load_stale(resource, ns, name)
            if old is None and apply_as is not None:  # apply creates what is missing
                return self.create(user, resource, ns, server_side_applied(None, config, apply_as, resource.api_version))
            if old is None:
                raise not_found(resource, name)
            if apply_as is not None:
                new = server_side_applied(old, config, apply_as, resource.api_version)
            else:
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
        if ctype == "application/merge-patch+json":
            return merge_patch(old, patch)
        if ctype == "application/strategic-merge-patch+json":
            return strategic_merge_patch(old, patch)
        if ctype == "application/json-patch+json":
            try:
                return json_patch(old, patch)
            except (KeyError, IndexError, ValueError) as e:
                raise Status(422, "Invalid", "the server rejected our request due to an error in our request: %s" % e)
        raise Status(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - accepted media types '
                     'include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, '
                     'application/strategic-merge-patch+json')

    def evict_pod(self, user, resource, ns, name, eviction):
        """policy/v1 Eviction as upstream's eviction REST answers it: the body names the pod of the URL (400
        otherwise); a pod that cannot count against a budget (Succeeded, Failed, Pending, or already being
        deleted) is deleted at once; else the pod is deleted (with the eviction's DeleteOptions) unless the
        PodDisruptionBudget selecting it allows no disruption (429 with the budget's cause), and a pod two
        budgets select is refused (500), as upstream does. An empty or null selector selects no pod (policy/v1)."""
        eviction = eviction or {}
        if dig(eviction, "metadata", "name") != name:
            raise bad_request("name in URL does not match name in Eviction object")
        pod, _ = self.load(resource, ns, name)
        if pod is None:
            raise not_found(resource, name)
        options = eviction.get("deleteOptions") or {}
        if dig(pod, "status", "phase") in ("Succeeded", "Failed", "Pending") or dig(pod, "metadata", "deletionTimestamp"):
            self.delete(user, resource, ns, name, options)
            return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        labels = dig(pod, "metadata", "labels", default={}) or {}
        pdbs, _ = self.list_objects(resource_by_path("policy", "v1", "poddisruptionbudgets"), ns)
        selecting = [b for b in pdbs if label_selector_object_matches(dig(b, "spec", "selector"), labels)]
        if len(selecting) > 1:
            raise Status(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
        if selecting:
            pdb = selecting[0]
            pods, _ = self.list_objects(resource, ns)
            selected = [p for p in pods if label_selector_object_matches(dig(pdb, "spec", "selector"), dig(p, "metadata", "labels", default={}) or {})]
            healthy = sum(1 for p in selected if dig(p, "status", "phase") == "Running" and not dig(p, "metadata", "deletionTimestamp"))
            if disruptions_allowed(dig(pdb, "spec", default={}) or {}, len(selected), healthy) < 1:
                raise Status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                             {"causes": [{"reason": "DisruptionBudget", "message": "The disruption budget %s needs %d healthy pods and has %d currently"
                                          % (pdb["metadata"]["name"], healthy, healthy)}]})
        self.delete(user, resource, ns, name, options)
        return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def delete(self, user, resource, ns, name, options=None):
        """Answers with the deleted object, as upstream. A pod on a node that has not finished is deleted
        gracefully: it gets a deletionTimestamp and its kubelet, once the containers stopped, deletes it for good
        (gracePeriodSeconds=0), as upstream's pod strategy and kubelet do."""
        options = options or {}
        old, revision = self.load(resource, ns, name)
        if old is None:
            raise not_found(resource, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old["metadata"].get("uid"):
            raise Status(409, "Conflict", "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                         % (pre["uid"], old["metadata"].get("uid")), details(resource, name))
        if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"].get("resourceVersion"):
            raise Status(409, "Conflict", "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s"
                         % (pre["resourceVersion"], old["metadata"].get("resourceVersion")), details(resource, name))
        self.admit(user, "delete", resource, ns, name, None, None, old)
        if resource.plural == "pods":
            grace = options.get("gracePeriodSeconds")
            grace = int(dig(old, "spec", "terminationGracePeriodSeconds", default=30) if grace is None else grace)
            running = dig(old, "spec", "nodeName") and dig(old, "status", "phase") not in ("Succeeded", "Failed")
            if running and grace > 0:
                meta = old["metadata"]
                if not meta.get("deletionTimestamp") or grace < int(meta.get("deletionGracePeriodSeconds") or grace):
                    meta["deletionTimestamp"] = datetime.datetime.fromtimestamp(time.time() + grace, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                    meta["deletionGracePeriodSeconds"] = grace
                    old = self.store_update(resource, ns, name, old, revision)
                return 200, old
        if not self.etcd.txn_delete(self.key(resource, ns, name), revision):
            raise conflict(resource, name)
        if resource.plural == "namespaces":
            for r in RESOURCES:
                if r.namespaced:
                    self.etcd.delete_prefix(self.list_key(r, name))
        self.rbac_changed(resource)
        return 200, old

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

    def virtual_request(self, user, req, body):
        """The create-only resources: access reviews, who-am-I, bindings."""
        resource = req["res"]
        if req["verb"] != "create":
            raise Status(405, "MethodNotAllowed", 'the server does not allow this method on the requested resource')
        spec = body.setdefault("spec", {})
        if resource.plural == "selfsubjectaccessreviews":
            spec.update({"user": user.name, "groups": user.groups, "uid": user.uid})
        if resource.plural == "localsubjectaccessreviews":
            (spec.get("resourceAttributes") or {})["namespace"] = req["namespace"]
        if resource.plural.endswith("subjectaccessreviews"):
            code, review = self.subject_access_review(body)
            review["apiVersion"], review["kind"] = resource.api_version, resource.kind
            return code, review
        if resource.plural == "selfsubjectreviews":
            return 201, {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": None},
                         "status": {"userInfo": {"username": user.name, "uid": user.uid, "groups": user.groups}}}
        if resource.plural == "bindings":
            return self.bind_pod(user, req["namespace"], dig(body, "metadata", "name", default=""), body)
        raise Status(404, "NotFound", "the server could not find the requested resource")

    def watch(self, h, resource, ns, query):
        """A watch as upstream serves it, from etcd's own watch: synthetic ADDED events for what exists when no
        resourceVersion is given (or "0", or sendInitialEvents=true, then a BOOKMARK marking their end), then every
        change after the start revision; label and field selectors as upstream applies them (an object that
        stops matching is DELETED). Bookmarks every 10 s when allowed, which also finds clients that went away."""
        rv = query.get("resourceVersion") or ""
        initial = query.get("sendInitialEvents") in ("true", "1")
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        if initial and not bookmarks:
            raise Status(422, "Invalid", "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled "
                         "and allowWatchBookmarks is set to true")
        labels, fields = query.get("labelSelector"), query.get("fieldSelector")
        if fields:
            field_selector_terms(resource, fields)
        matches = lambda obj: obj is not None and (not labels or selector_matches(labels, dig(obj, "metadata", "labels", default={}) or {})) \
            and (not fields or field_selector_matches(fields, obj))
        timeout = int(query.get("timeoutSeconds") or 1800)
        deadline = time.time() + min(timeout, 1800)
        synthetic = []
        if initial or rv in ("", "0"):
            items, start = self.list_objects(resource, ns)
            synthetic = [i for i in items if matches(i)]
        else:
            try:
                start = int(rv)
            except ValueError:
                raise bad_request('invalid resource version "%s"' % rv)
        events, stop = queue.Queue(), threading.Event()
        self.etcd.watch(self.list_key(resource, ns), start + 1, events, stop, deadline)
        h.start_stream()
        send = lambda kind, obj: h.write_chunk((json.dumps({"type": kind, "object": obj}) + "\n").encode())
        bookmark = lambda revision, extra=None: send("BOOKMARK", {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": dict(
            {"resourceVersion": str(revision)}, **({"annotations": extra} if extra else {}))})
        try:
            for obj in synthetic:
                send("ADDED", obj)
            if initial:
                bookmark(start, {"k8s.io/initial-events-end": "true"})
            revision = start
            while time.time() < deadline:
                try:
                    event = events.get(timeout=min(10.0, max(0.1, deadline - time.time())))
                except queue.Empty:
                    if bookmarks:
                        bookmark(revision)
                    continue
                if event is None:
                    break
                if isinstance(event, WatchCompacted):
                    send("ERROR", Status(410, "Expired", "too old resource version: %d (%d)" % (start, event.revision)).body())
                    break
                if isinstance(event, EtcdError):
                    send("ERROR", Status(500, "InternalError", "Internal error occurred: %s" % event).body())
                    break
                kind, kv, prev_kv = event
                revision = int(kv.get("mod_revision") or revision)
                try:
                    old = self.decode(resource, prev_kv) if prev_kv else None
                    new = self.decode(resource, kv) if kind == "PUT" else None
                except (EtcdError, ValueError):
                    continue
                if old is not None and kind == "DELETE":
                    old["metadata"]["resourceVersion"] = str(revision)
                if matches(new):
                    send("MODIFIED" if matches(old) else "ADDED", new)
                elif matches(old):
                    send("DELETED", new if new is not None else old)
            h.end_stream()
        except OSError:  # the client went away
            pass
        finally:
            stop.set()
        h.close_connection = True
        return None

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


def disruptions_allowed(spec, expected, healthy):
    """A PodDisruptionBudget's allowance as upstream's disruption controller works it out (an int or a
    percentage of the selected pods, rounded up)."""
    def count(value):
        text = str(value)
        return -(-expected * int(text[:-1]) // 100) if text.endswith("%") else int(text)
    if spec.get("maxUnavailable") is not None:
        return count(spec["maxUnavailable"]) - (expected - healthy)
    if spec.get("minAvailable") is not None:
        return healthy - count(spec["minAvailable"])
    return 1


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


def label_selector_object_matches(selector, labels):
    """A LabelSelector object (matchLabels and matchExpressions) against labels; a null or empty one selects
    nothing, as policy/v1 PodDisruptionBudgets read it."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for r in selector.get("matchExpressions") or []:
        value, values = labels.get(r.get("key")), r.get("values") or []
        ok = {"In": value in values, "NotIn": value not in values, "Exists": value is not None, "DoesNotExist": value is None}.get(r.get("operator"), False)
        if not ok:
            return False
    return True


# The fields each resource may be selected by, as upstream registers them (AddFieldLabelConversionFunc);
# any other resource takes metadata.name and metadata.namespace only. Events are not checked.
FIELD_LABELS = {
    "pods": ("metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"),
    "nodes": ("metadata.name", "spec.unschedulable"),
    "namespaces": ("metadata.name", "status.phase"),
    "secrets": ("metadata.name", "metadata.namespace", "type"),
    "services": ("metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"),
    "replicationcontrollers": ("metadata.name", "metadata.namespace", "status.replicas"),
    "replicasets": ("metadata.name", "metadata.namespace", "status.replicas"),
    "jobs": ("metadata.name", "metadata.namespace", "status.successful"),
    "persistentvolumes": ("metadata.name",),
    "certificatesigningrequests": ("metadata.name", "spec.signerName"),
}
# Boolean fields a selector compares as "true"/"false" (absent: false), as upstream's conversion prints them.
BOOLEAN_FIELDS = ("spec.unschedulable", "spec.hostNetwork")


def field_selector_terms(resource, selector):
    """The selector's terms (field, operator, value), refused as upstream refuses them: a term it cannot
    parse, or a field the resource cannot be selected by (400)."""
    terms = []
    for term in [t for t in selector.split(",") if t]:
        m = re.fullmatch(r"([^!=]+)(==|=|!=)(.*)", term)
        if not m:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (selector, term))
        field, op, value = m.groups()
        if resource.plural in FIELD_LABELS and field not in FIELD_LABELS[resource.plural]:
            raise bad_request("field label not supported: %s" % field)
        if resource.plural not in FIELD_LABELS and resource.plural != "events" and field not in ("metadata.name", "metadata.namespace"):
            raise bad_request('"%s" is not a known field selector: only "metadata.name", "metadata.namespace"' % field)
        terms.append((field, op, value))
    return terms


def field_selector_matches(selector, obj):
    for term in [t.strip() for t in selector.split(",") if t.strip()]:
        m = re.fullmatch(r"([^!=]+)(==|=|!=)(.*)", term)
        if not m:
            continue
        path, op, value = m.groups()
        actual = dig(obj, *path.split("."))
        if path in BOOLEAN_FIELDS:
            actual = "true" if actual is True else "false"
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
    """Until SIGTERM, then out at once, as upstream's API server leaves: the interpreter's own shutdown could
    wait on grpc's channels to etcd (never closed: a watch may be open), and systemd then waited its 90 s
    TimeoutStopSec before a SIGKILL, a stop no real API server takes."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    log("received SIGTERM, shutting down")
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


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
# The CRI (runtime.v1) over the runtime's socket, as the kubelet speaks it: the few messages the pod
# runner uses, encoded by hand with upstream's field numbers (k8s.io/cri-api api.proto); python3-grpcio
# carries them. containerd's CRI plugin does the rest as it does for the real kubelet: the sandbox
# (pause image from its config), the network namespace and the CNI plugins from its conf_dir/bin_dir,
# resolv.conf and hostname, the containers through runc.
# ---------------------------------------------------------------------------------------------------

def pb_map(field, mapping):
    return b"".join(pb_bytes(field, pb_bytes(1, k) + pb_bytes(2, v)) for k, v in sorted((mapping or {}).items()))


def pb_strings(field, values):
    return b"".join(pb_bytes(field, v) for v in values or [])


def pb_map_read(fields, field):
    return {pb_one(e, 1, b"").decode(): pb_one(e, 2, b"").decode() for e in (pb_parse(v) for v in fields.get(field, []))}


CRI_CONTAINER_STATES = {0: "created", 1: "running", 2: "exited", 3: "unknown"}
CRI_PROTOCOLS = {"TCP": 0, "UDP": 1, "SCTP": 2}


class CriError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Cri:
    def __init__(self, endpoint):
        import grpc
        self.path = endpoint[len("unix://"):] if endpoint.startswith("unix://") else endpoint
        self.channel = grpc.insecure_channel("unix://" + self.path)

    def call(self, service, method, request, timeout=120):
        import grpc
        try:
            return pb_parse(self.channel.unary_unary("/runtime.v1.%s/%s" % (service, method))(request, timeout=timeout))
        except grpc.RpcError as e:
            raise CriError(e.code().name if e.code() else "Unknown", "rpc error: code = %s desc = %s" % (
                "".join(w.capitalize() for w in (e.code().name if e.code() else "unknown").split("_")), e.details()))

    def status(self):
        """The runtime's conditions: {type: (status, reason, message)}."""
        reply = pb_parse(pb_one(self.call("RuntimeService", "Status", b""), 1, b""))
        conditions = {}
        for raw in reply.get(1, []):
            c = pb_parse(raw)
            conditions[pb_one(c, 1, b"").decode()] = (bool(pb_one(c, 2)), pb_one(c, 3, b"").decode(), pb_one(c, 4, b"").decode())
        return conditions

    @staticmethod
    def sandbox_config(pod, hostname, log_dir, dns, ports, host_network, cgroup_parent):
        meta = pod["metadata"]
        metadata = pb_bytes(1, meta["name"]) + pb_bytes(2, meta["uid"]) + pb_bytes(3, meta["namespace"])
        dns_config = pb_strings(1, dns[0]) + pb_strings(2, dns[1]) + pb_strings(3, dns[2])
        mappings = b"".join(pb_bytes(5, pb_int(1, CRI_PROTOCOLS.get(p.get("protocol", "TCP"), 0)) + pb_int(2, p["containerPort"])
                                     + pb_int(3, p["hostPort"]) + pb_bytes(4, p.get("hostIP", ""))) for p in ports)
        labels = {"io.kubernetes.pod.name": meta["name"], "io.kubernetes.pod.namespace": meta["namespace"], "io.kubernetes.pod.uid": meta["uid"]}
        namespaces = pb_int(1, 2 if host_network else 0, always=True) + pb_int(2, 1, always=True)  # network POD|NODE, pid CONTAINER
        linux = pb_bytes(1, cgroup_parent) + pb_bytes(2, pb_bytes(1, namespaces))
        return (pb_bytes(1, metadata) + pb_bytes(2, hostname) + pb_bytes(3, log_dir) + pb_bytes(4, dns_config) + mappings
                + pb_map(6, labels) + pb_map(7, meta.get("annotations") or {}) + pb_bytes(8, linux))

    def run_sandbox(self, config):
        return pb_one(self.call("RuntimeService", "RunPodSandbox", pb_bytes(1, config), timeout=240), 1, b"").decode()

    def sandbox_status(self, sandbox_id):
        status = pb_parse(pb_one(self.call("RuntimeService", "PodSandboxStatus", pb_bytes(1, sandbox_id)), 1, b""))
        network = pb_parse(pb_one(status, 5, b""))
        return {"ready": pb_one(status, 3) == 0, "ip": pb_one(network, 1, b"").decode()}

    def list_sandboxes(self):
        out = []
        for raw in self.call("RuntimeService", "ListPodSandbox", b"").get(1, []):
            sb = pb_parse(raw)
            out.append({"id": pb_one(sb, 1, b"").decode(), "ready": pb_one(sb, 3) == 0, "created": pb_one(sb, 4), "labels": pb_map_read(sb, 5)})
        return out

    def stop_sandbox(self, sandbox_id):
        self.call("RuntimeService", "StopPodSandbox", pb_bytes(1, sandbox_id))

    def remove_sandbox(self, sandbox_id):
        self.call("RuntimeService", "RemovePodSandbox", pb_bytes(1, sandbox_id))

    def create_container(self, sandbox_id, sandbox_config, name, attempt, image, command, args, workdir, env, mounts, labels, log_path, privileged):
        metadata = pb_bytes(1, name) + pb_int(2, attempt)
        envs = b"".join(pb_bytes(6, pb_bytes(1, k) + pb_bytes(2, v)) for k, v in env)
        mount_msgs = b"".join(pb_bytes(7, pb_bytes(1, m[0]) + pb_bytes(2, m[1]) + pb_int(3, 1 if m[2] else 0)) for m in mounts)
        linux = pb_bytes(2, pb_int(2, 1 if privileged else 0))
        config = (pb_bytes(1, metadata) + pb_bytes(2, pb_bytes(1, image)) + pb_strings(3, command) + pb_strings(4, args) + pb_bytes(5, workdir)
                  + envs + mount_msgs + pb_map(9, labels) + pb_bytes(11, log_path) + pb_bytes(15, linux))
        reply = self.call("RuntimeService", "CreateContainer", pb_bytes(1, sandbox_id) + pb_bytes(2, config) + pb_bytes(3, sandbox_config))
        return pb_one(reply, 1, b"").decode()

    def start_container(self, container_id):
        self.call("RuntimeService", "StartContainer", pb_bytes(1, container_id))

    def stop_container(self, container_id, timeout):
        self.call("RuntimeService", "StopContainer", pb_bytes(1, container_id) + pb_int(2, int(timeout)), timeout=int(timeout) + 60)

    def remove_container(self, container_id):
        self.call("RuntimeService", "RemoveContainer", pb_bytes(1, container_id))

    def list_containers(self, sandbox_id):
        out = []
        for raw in self.call("RuntimeService", "ListContainers", pb_bytes(1, pb_bytes(3, sandbox_id))).get(1, []):
            c = pb_parse(raw)
            out.append({"id": pb_one(c, 1, b"").decode(), "name": pb_one(pb_parse(pb_one(c, 3, b"")), 1, b"").decode(),
                        "attempt": pb_one(pb_parse(pb_one(c, 3, b"")), 2), "state": CRI_CONTAINER_STATES.get(pb_one(c, 6), "unknown"),
                        "created": pb_one(c, 7)})
        return out

    def container_status(self, container_id):
        s = pb_parse(pb_one(self.call("RuntimeService", "ContainerStatus", pb_bytes(1, container_id)), 1, b""))
        return {"id": container_id, "state": CRI_CONTAINER_STATES.get(pb_one(s, 3), "unknown"), "started": pb_one(s, 5), "finished": pb_one(s, 6),
                "exit_code": pb_one(s, 7), "image_ref": pb_one(s, 9, b"").decode(), "reason": pb_one(s, 10, b"").decode(),
                "message": pb_one(s, 11, b"").decode(), "log_path": pb_one(s, 15, b"").decode()}

    def exec_sync(self, container_id, cmd, timeout):
        reply = self.call("RuntimeService", "ExecSync", pb_bytes(1, container_id) + pb_strings(2, cmd) + pb_int(3, int(timeout)), timeout=timeout + 10)
        return pb_one(reply, 3), pb_one(reply, 1, b"").decode("utf-8", "replace") + pb_one(reply, 2, b"").decode("utf-8", "replace")

    def image_present(self, image):
        return bool(self.call("ImageService", "ImageStatus", pb_bytes(1, pb_bytes(1, image))).get(1))

    def pull_image(self, image, sandbox_config):
        return pb_one(self.call("ImageService", "PullImage", pb_bytes(1, pb_bytes(1, image)) + pb_bytes(3, sandbox_config), timeout=300), 1, b"").decode()


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
        self.cri = Cri(endpoint)
        self.cni_dir = containerd_cni_dir()
        self.sar_cache = {}
        self.conditions = {}
        self.cgroup_driver = cfg("cgroupDriver", "cgroupfs")
        self.cluster_dns = flags.all("cluster-dns") or cfg("clusterDNS") or []
        self.cluster_domain = (flags.get("cluster-domain") or cfg("clusterDomain") or "cluster.local").strip(".")
        self.resolv_conf = flags.get("resolv-conf") or cfg("resolvConf", "/etc/resolv.conf")
        self.workers, self.services = {}, ([], 0.0)

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
        problem = self.runtime_problem()
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

    def runtime_problem(self):
        """Why the node is not Ready as the runtime reports it over CRI (Status: RuntimeReady, NetworkReady), as the
        kubelet words it; None when both are ready. Without an answer, whether the CNI config dir holds a config."""
        try:
            conditions = self.cri.status()
        except CriError:
            return cni_config_problem(self.cni_dir)
        runtime = conditions.get("RuntimeReady", (False, "", "runtime did not report RuntimeReady"))
        if not runtime[0]:
            return "container runtime status check may not have completed yet: RuntimeReady=false reason:%s message:%s" % runtime[1:]
        network = conditions.get("NetworkReady", (False, "", "runtime did not report NetworkReady"))
        if not network[0]:
            return "container runtime network not ready: NetworkReady=false reason:%s message:%s" % network[1:]
        return None

    # -- what pod workers ask the node for --

    def get_object(self, resource, ns, name, optional):
        try:
            return self.client.get(api_path(res(resource), ns, name))
        except ApiError as e:
            if e.status == 404 and optional:
                return None
            raise

    def token(self, pod, seconds, audiences):
        """A service-account token bound to the pod (TokenRequest), as the kubelet's projected volumes hold."""
        meta = pod["metadata"]
        spec = {"expirationSeconds": int(seconds), "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta["name"], "uid": meta["uid"]}}
        if audiences:
            spec["audiences"] = audiences
        sa = dig(pod, "spec", "serviceAccountName", default="default")
        review = self.client.post(api_path(res("serviceaccounts"), meta["namespace"], sa, "token"),
                                  {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
        return review["status"]["token"]

    def host_resolv(self):
        """(nameservers, search domains, options) of the resolvConf the kubelet was given."""
        servers, searches, options = [], [], []
        for line in read_text(self.resolv_conf).splitlines():
            words = line.split()
            if words and words[0] == "nameserver" and len(words) > 1:
                servers.append(words[1])
            elif words and words[0] in ("search", "domain"):
                searches = words[1:]
            elif words and words[0] == "options":
                options += words[1:]
        return servers, searches, options

    def service_env(self, ns, links):
        """The service variables of a container: the `kubernetes` service's always, the namespace's with enableServiceLinks."""
        services, stamp = self.services
        if time.time() - stamp > 5:
            try:
                services = self.client.get("/api/v1/services").get("items", [])
                self.services = (services, time.time())
            except (ApiError, NetError):
                pass
        env = []
        for svc in services:
            meta, spec = svc["metadata"], svc.get("spec") or {}
            own = meta.get("namespace") == ns and links
            master = meta.get("namespace") == "default" and meta["name"] == "kubernetes"
            ip, ports = spec.get("clusterIP"), spec.get("ports") or []
            if not (own or master) or not ip or ip == "None" or not ports:
                continue
            prefix = env_name(meta["name"])
            env += [(prefix + "_SERVICE_HOST", ip), (prefix + "_SERVICE_PORT", str(ports[0]["port"]))]
            env += [(prefix + "_SERVICE_PORT_" + env_name(p["name"]), str(p["port"])) for p in ports if p.get("name")]
            env.append((prefix + "_PORT", "%s://%s:%s" % (ports[0].get("protocol", "TCP").lower(), ip, ports[0]["port"])))
            for p in ports:
                proto = p.get("protocol", "TCP")
                base = "%s_PORT_%s_%s" % (prefix, p["port"], proto)
                env += [(base, "%s://%s:%s" % (proto.lower(), ip, p["port"])), (base + "_PROTO", proto.lower()), (base + "_PORT", str(p["port"])), (base + "_ADDR", ip)]
        return env

    @staticmethod
    def read_log(path, tail=None):
        """A CRI log file's lines (`<time> <stream> <P|F> <text>`) as the container wrote them."""
        lines, partial = [], ""
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for raw in f:
                    parts = raw.rstrip("\n").split(" ", 3)
                    if len(parts) < 4:
                        continue
                    partial += parts[3]
                    if parts[2] == "F":
                        lines.append(partial)
                        partial = ""
        except OSError:
            return []
        if partial:
            lines.append(partial)
        return lines[-tail:] if tail else lines

    # -- pods: the sync loop --

    def adoptable(self):
        """What the runtime still runs for pods (a kubelet that restarted adopts it): pod UID -> its newest ready sandbox and containers."""
        found = {}
        try:
            for sb in sorted(self.cri.list_sandboxes(), key=lambda x: x["created"]):
                uid = sb["labels"].get("io.kubernetes.pod.uid")
                if uid and sb["ready"]:
                    found[uid] = {"sandbox": sb["id"], "containers": self.cri.list_containers(sb["id"])}
                elif uid and uid not in found:
                    found[uid] = {"sandbox": None, "containers": [], "stale": [sb["id"]]}
        except CriError as e:
            log('"Failed to list pod sandboxes" err=%s' % q(e), "E")
        return found

    def pod_loop(self, stop):
        adopted, collected = self.adoptable(), 0.0
        while not stop.is_set():
            try:
                pods = self.client.get("/api/v1/pods?fieldSelector=" + urllib.parse.quote("spec.nodeName=" + self.node_name)).get("items", [])
            except (ApiError, NetError) as e:
                log('"Failed to list pods for the node" err=%s' % q(describe_failure(e)), "E")
                stop.wait(2)
                continue
            seen = set()
            for pod in pods:
                uid = pod["metadata"]["uid"]
                seen.add(uid)
                worker = self.workers.get(uid)
                if worker is not None:
                    worker.pod = pod
                    worker.wake.set()
                elif dig(pod, "status", "phase") not in ("Succeeded", "Failed") or dig(pod, "metadata", "deletionTimestamp"):
                    worker = self.workers[uid] = PodWorker(self, pod, adopted.pop(uid, None))
                    worker.start()
            for uid, worker in list(self.workers.items()):
                if worker.done.is_set():
                    del self.workers[uid]
                elif uid not in seen:
                    worker.pod = None
                    worker.wake.set()
            if time.time() - collected > 30:  # garbage collection: sandboxes of pods the API server no longer has
                self.collect_sandboxes(seen)
                collected = time.time()
            stop.wait(1 if pods or self.workers else 3)  # an idle node polls less: the lab's hosts share two cores

    def collect_sandboxes(self, seen):
        try:
            sandboxes = self.cri.list_sandboxes()
        except CriError as e:
            log('"Failed to list pod sandboxes" err=%s' % q(e), "E")
            return
        for sb in sandboxes:
            uid = sb["labels"].get("io.kubernetes.pod.uid")
            if not uid or uid in seen or uid in self.workers:
                continue
            try:
                for c in self.cri.list_containers(sb["id"]):
                    self.cri.remove_container(c["id"])
                self.cri.stop_sandbox(sb["id"])
                self.cri.remove_sandbox(sb["id"])
                log('removed sandbox %s of pod UID %s, which the API server no longer has' % (sb["id"][:13], uid))
            except CriError as e:
                log('"Failed to remove an orphaned sandbox" err=%s' % q(e), "E")

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
            items = [w.pod for w in list(self.workers.values()) if w.pod is not None]
            return h.reply_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
        m = re.fullmatch(r"/containerLogs/([^/]+)/([^/]+)/([^/]+)", path)
        if m:
            return self.container_logs(h, *m.groups())
        if path == "/configz":
            return h.reply_json(200, {"kubeletconfig": self.config})
        return h.reply(404, "404 page not found\n")

    def container_logs(self, h, ns, name, container):
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(h.path).query))
        worker = next((w for w in list(self.workers.values()) if (w.ns, w.name) == (ns, name)), None)
        state = worker.states.get(container) if worker else None
        if state is None or "attempt" not in state:
            return h.reply(404, 'container "%s" in pod "%s" is waiting to start' % (container, name) if worker else 'pod "%s/%s" not found' % (ns, name))
        attempt = state["attempt"] - (1 if query.get("previous") == "true" else 0)
        lines = self.read_log(os.path.join(POD_LOGS_DIR, "%s_%s_%s" % (ns, name, worker.uid), container, "%d.log" % attempt),
                              int(query["tailLines"]) if query.get("tailLines") else None)
        return h.reply(200, "".join(line + "\n" for line in lines))

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
            threading.Thread(target=self.pod_loop, args=(stop,), daemon=True).start()
            self.heartbeat_loop(stop)
        stop.wait()
        log("received SIGTERM, shutting down")
        return 0


# ---------------------------------------------------------------------------------------------------
# kubelet: pods. Each pod bound to the node gets a worker that does what the real kubelet's pod workers
# do, through the real runtime over CRI: its volumes (configMap, secret, projected service-account
# token, CA and namespace, downwardAPI, emptyDir, hostPath) under /var/lib/kubelet/pods/<uid>, its
# sandbox (the runtime wires the network namespace with the CNI plugins and reports the IP), its init
# containers in order, then its containers (image present or pulled, environment with the service
# variables, mounts, a termination-message file, logs under /var/log/pods), restarts as restartPolicy
# says with upstream's back-off (CrashLoopBackOff), readiness and liveness probes (httpGet, tcpSocket,
# exec), and the pod's status (phase, conditions, IPs, container states) written to the API server.
# A pod deleted gracefully is stopped within its grace period and then deleted for good. A kubelet
# that restarts adopts the sandboxes and containers the runtime still runs for its pods.
# Not done: startup probes, resource limits, security contexts (containers run as the image says),
# volumes other than those above (a pod with one stays ContainerCreating, saying so), static pods.
# One stand-in's substitution: a container of an image whose repository is `coredns` runs standin.py's
# CoreDNS role (with the node's python mounted read-only) instead of the lab image's idle entrypoint.
# ---------------------------------------------------------------------------------------------------

KUBELET_PODS_DIR = "/var/lib/kubelet/pods"
POD_LOGS_DIR = "/var/log/pods"
STANDIN_MOUNT = "/kubestrap-standin"
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0


def image_repository(image):
    name = image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def standin_role(image):
    """The stand-in role a container of this image runs instead of the image's own entrypoint, if any."""
    return "coredns" if image_repository(image).rsplit("/", 1)[-1] == "coredns" else None


def cri_time(nanos):
    return datetime.datetime.fromtimestamp(nanos / 1e9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if nanos else None


def env_name(service_name):
    return service_name.upper().replace("-", "_")


class PodWorker(threading.Thread):
    def __init__(self, kubelet, pod, adopted=None):
        super().__init__(daemon=True)
        self.kubelet, self.pod = kubelet, pod
        self.uid, self.ns, self.name = pod["metadata"]["uid"], pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.wake, self.done = threading.Event(), threading.Event()
        self.sandbox, self.sandbox_config, self.ip = (adopted or {}).get("sandbox"), None, None
        self.sandbox_attempt = 0
        self.volumes, self.volumes_at = None, 0.0  # {volume name: host path} once prepared, and when
        self.problem = None  # (reason, message) of the pod as a whole, e.g. a sandbox that failed
        self.retry_at = 0.0
        self.states = {}  # container name -> state dict (see container_state)
        for c in (adopted or {}).get("containers", []):
            if c["name"] not in self.states or c["attempt"] >= self.states[c["name"]]["attempt"]:
                self.states[c["name"]] = {"id": c["id"], "attempt": c["attempt"], "restarts": c["attempt"]}
        self.started_at = None
        self.reported = None
        self.finished = False

    @property
    def cri(self):
        return self.kubelet.cri

    def log_event(self, text, level="I"):
        log('%s pod="%s/%s" podUID="%s"' % (text, self.ns, self.name, self.uid), level)

    def run(self):
        while True:
            pod = self.pod
            try:
                if pod is None or dig(pod, "metadata", "deletionTimestamp"):
                    self.terminate(pod)
                    return
                if not self.finished:
                    self.sync(pod)
                self.report(pod)
            except (ApiError, NetError) as e:
                self.log_event('"Error syncing pod, skipping" err=%s' % q(describe_failure(e)), "E")
            except Exception as e:  # keep the worker alive: a bug here must not stop the node's other pods
                self.log_event('"Error syncing pod, skipping" err=%s' % q(repr(e)), "E")
            self.wake.wait(1.0)
            self.wake.clear()

    # -- volumes --

    def volume_dir(self, kind, name):
        path = os.path.join(KUBELET_PODS_DIR, self.uid, "volumes", "kubernetes.io~" + kind, name)
        os.makedirs(path, exist_ok=True)
        return path

    @staticmethod
    def write_files(path, files, mode):
        for rel, data in files.items():
            target = os.path.join(path, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target + ".tmp", "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
            os.chmod(target + ".tmp", mode)
            os.rename(target + ".tmp", target)

    def object_files(self, resource, name, items, optional):
        obj = self.kubelet.get_object(resource, self.ns, name, optional)
        if obj is None:
            return {}
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()} if resource == "configmaps" else \
            {k: unb64(v) for k, v in (obj.get("data") or {}).items()}
        data.update({k: unb64(v) for k, v in (obj.get("binaryData") or {}).items()})
        if items:
            return {i["path"]: data[i["key"]] for i in items if i["key"] in data}
        return data

    def field_value(self, path):
        pod = self.pod or {}
        if path == "status.podIP":
            return self.ip or ""
        if path == "status.hostIP":
            return self.kubelet.node_ip
        m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if m:
            return (dig(pod, "metadata", m.group(1), default={}) or {}).get(m.group(2), "")
        if path in ("metadata.labels", "metadata.annotations"):
            return "\n".join('%s="%s"' % kv for kv in sorted((dig(pod, *path.split("."), default={}) or {}).items()))
        value = dig(pod, *path.split("."))
        return "" if value is None else str(value)

    def prepare_volumes(self, pod):
        paths = {}
        for v in dig(pod, "spec", "volumes", default=[]) or []:
            name = v["name"]
            if "configMap" in v:
                src = v["configMap"]
                path = self.volume_dir("configmap", name)
                self.write_files(path, self.object_files("configmaps", src.get("name"), src.get("items"), src.get("optional")), src.get("defaultMode", 0o644))
            elif "secret" in v:
                src = v["secret"]
                path = self.volume_dir("secret", name)
                self.write_files(path, self.object_files("secrets", src.get("secretName"), src.get("items"), src.get("optional")), src.get("defaultMode", 0o644))
            elif "projected" in v:
                path = self.volume_dir("projected", name)
                files = {}
                for source in v["projected"].get("sources") or []:
                    if "serviceAccountToken" in source:
                        t = source["serviceAccountToken"]
                        files[t["path"]] = self.kubelet.token(pod, t.get("expirationSeconds", 3600), [t["audience"]] if t.get("audience") else None)
                    elif "configMap" in source:
                        files.update(self.object_files("configmaps", source["configMap"].get("name"), source["configMap"].get("items"), source["configMap"].get("optional")))
                    elif "secret" in source:
                        files.update(self.object_files("secrets", source["secret"].get("name"), source["secret"].get("items"), source["secret"].get("optional")))
                    elif "downwardAPI" in source:
                        files.update({i["path"]: self.field_value(dig(i, "fieldRef", "fieldPath", default="")) for i in source["downwardAPI"].get("items") or []})
                self.write_files(path, files, v["projected"].get("defaultMode", 0o644))
            elif "downwardAPI" in v:
                path = self.volume_dir("downward-api", name)
                self.write_files(path, {i["path"]: self.field_value(dig(i, "fieldRef", "fieldPath", default="")) for i in v["downwardAPI"].get("items") or []},
                                 v["downwardAPI"].get("defaultMode", 0o644))
            elif "emptyDir" in v:
                path = self.volume_dir("empty-dir", name)
            elif "hostPath" in v:
                path = v["hostPath"]["path"]
                if v["hostPath"].get("type") == "DirectoryOrCreate":
                    os.makedirs(path, exist_ok=True)
                elif not os.path.exists(path) and v["hostPath"].get("type") not in (None, "", "FileOrCreate"):
                    raise ValueError('hostPath type check failed: %s is not a %s' % (path, v["hostPath"]["type"]))
            else:
                kind = next((k for k in v if k != "name"), "?")
                raise ValueError("volume %s: the %s volume type is not implemented by this test stand-in" % (name, kind))
            paths[name] = path
        return paths

    # -- the sandbox --

    def dns_config(self, pod):
        spec = pod.get("spec") or {}
        policy = spec.get("dnsPolicy", "ClusterFirst")
        host = self.kubelet.host_resolv()
        if policy == "ClusterFirstWithHostNet" and not spec.get("hostNetwork"):
            policy = "ClusterFirst"
        if policy == "ClusterFirst" and spec.get("hostNetwork"):
            policy = "Default"
        if policy == "ClusterFirst" and self.kubelet.cluster_dns:
            domain = self.kubelet.cluster_domain
            servers, searches, options = list(self.kubelet.cluster_dns), ["%s.svc.%s" % (self.ns, domain), "svc." + domain, domain] + host[1], ["ndots:5"]
        elif policy == "None":
            servers, searches, options = [], [], []
        else:
            servers, searches, options = host
        extra = spec.get("dnsConfig") or {}
        servers = servers + [s for s in extra.get("nameservers") or [] if s not in servers]
        searches = searches + [s for s in extra.get("searches") or [] if s not in searches]
        options = options + ["%s:%s" % (o["name"], o["value"]) if o.get("value") else o["name"] for o in extra.get("options") or []]
        return servers[:3], searches[:32], options

    def make_sandbox_config(self, pod):
        spec = pod.get("spec") or {}
        ports = [p for c in spec.get("containers") or [] for p in c.get("ports") or [] if p.get("hostPort")]
        log_dir = os.path.join(POD_LOGS_DIR, "%s_%s_%s" % (self.ns, self.name, self.uid))
        os.makedirs(log_dir, exist_ok=True)
        # as upstream: a pod on the node's network keeps the node's hostname (the runtime sets none)
        hostname = "" if spec.get("hostNetwork") else spec.get("hostname") or self.name
        # The cgroup driver must be the runtime's: the parent's syntax tells runc which one to use, and a
        # mismatch fails the sandbox as it does upstream.
        parent = ("kubepods-besteffort-pod%s.slice" % self.uid.replace("-", "_") if self.kubelet.cgroup_driver == "systemd"
                  else "/kubepods/besteffort/pod" + self.uid)
        return Cri.sandbox_config(pod, hostname[:63], log_dir, self.dns_config(pod), ports, spec.get("hostNetwork"), parent)

    def ensure_sandbox(self, pod):
        if self.sandbox and self.sandbox_config is None:
            self.sandbox_config = self.make_sandbox_config(pod)
        if self.sandbox:
            try:
                status = self.cri.sandbox_status(self.sandbox)
                if status["ready"]:
                    self.ip = status["ip"] or (self.kubelet.node_ip if dig(pod, "spec", "hostNetwork") else None)
                    return True
                self.log_event("No ready sandbox for pod can be found. Need to start a new one")
            except CriError as e:
                self.log_event("sandbox %s is gone (%s); starting a new one" % (self.sandbox, e))
            self.sandbox, self.sandbox_attempt = None, self.sandbox_attempt + 1
            self.states = {n: dict(s, id=None) for n, s in self.states.items()}  # a new sandbox starts every container anew
        if time.time() < self.retry_at:
            return False
        config = self.make_sandbox_config(pod)
        try:
            self.sandbox = self.cri.run_sandbox(config)
        except CriError as e:
            self.problem = ("ContainerCreating", "Failed to create pod sandbox: %s" % e)
            self.log_event('"Failed to create sandbox for pod" err=%s' % q(e), "E")
            self.retry_at = time.time() + 5
            return False
        self.sandbox_config, self.problem = config, None
        status = self.cri.sandbox_status(self.sandbox)
        self.ip = status["ip"] or (self.kubelet.node_ip if spec.get("hostNetwork") else None)
        self.log_event("started sandbox %s, IP %s" % (self.sandbox[:13], self.ip))
        return True

    # -- containers --

    def environment(self, pod, c):
        env = self.kubelet.service_env(self.ns, dig(pod, "spec", "enableServiceLinks", default=True) is not False)
        for source in c.get("envFrom") or []:
            ref = source.get("configMapRef") or source.get("secretRef") or {}
            resource = "configmaps" if "configMapRef" in source else "secrets"
            for k, v in sorted(self.object_files(resource, ref.get("name"), None, ref.get("optional")).items()):
                env.append((source.get("prefix", "") + k, v.decode("utf-8", "replace")))
        for e in c.get("env") or []:
            value = e.get("value", "")
            source = e.get("valueFrom") or {}
            if "fieldRef" in source:
                value = self.field_value(source["fieldRef"].get("fieldPath", ""))
            elif "configMapKeyRef" in source or "secretKeyRef" in source:
                ref = source.get("configMapKeyRef") or source.get("secretKeyRef")
                files = self.object_files("configmaps" if "configMapKeyRef" in source else "secrets", ref.get("name"), None, ref.get("optional"))
                if ref.get("key") not in files and not ref.get("optional"):
                    raise ValueError('couldn\'t find key %s in %s %s/%s' % (ref.get("key"), "ConfigMap" if "configMapKeyRef" in source else "Secret", self.ns, ref.get("name")))
                value = files.get(ref.get("key"), b"").decode("utf-8", "replace")
            env.append((e["name"], re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: dict(env).get(m.group(1), m.group(0)), value)))
        return env

    def start_container(self, pod, c, state):
        image, policy = c["image"], c.get("imagePullPolicy", "IfNotPresent")
        present = self.cri.image_present(image)
        if policy == "Never" and not present:
            state["waiting"] = ("ErrImageNeverPull", 'Container image "%s" is not present with pull policy of Never' % image)
            return
        if policy == "Always" or not present:
            if state.get("pull_failed") and time.time() < state.get("retry_at", 0):
                state["waiting"] = ("ImagePullBackOff", 'Back-off pulling image "%s"' % image)
                return
            try:
                self.cri.pull_image(image, self.sandbox_config or b"")
                state.pop("pull_failed", None)
            except CriError as e:
                state.update(pull_failed=True, retry_at=time.time() + state.get("pull_backoff", BACKOFF_START),
                             pull_backoff=min(BACKOFF_MAX, state.get("pull_backoff", BACKOFF_START) * 2))
                state["waiting"] = ("ErrImagePull", "failed to pull and unpack image \"%s\": %s" % (image, e))
                self.log_event('"Failed to pull image" image="%s" err=%s' % (image, q(e)), "E")
                return
        attempt = state.get("attempt", -1) + 1 if state.get("id") or "attempt" in state else 0
        log_rel = "%s/%d.log" % (c["name"], attempt)
        os.makedirs(os.path.join(POD_LOGS_DIR, "%s_%s_%s" % (self.ns, self.name, self.uid), c["name"]), exist_ok=True)
        mounts = []
        for m in c.get("volumeMounts") or []:
            host = self.volumes.get(m["name"])
            if host is None:
                state["waiting"] = ("CreateContainerConfigError", 'volume "%s" not found' % m["name"])
                return
            mounts.append((m["mountPath"], os.path.join(host, m["subPath"]) if m.get("subPath") else host, bool(m.get("readOnly"))))
        term = os.path.join(KUBELET_PODS_DIR, self.uid, "containers", c["name"], uuid.uuid4().hex[:8])
        os.makedirs(os.path.dirname(term), exist_ok=True)
        open(term, "w").close()
        mounts.append((c.get("terminationMessagePath", "/dev/termination-log"), term, False))
        try:
            env = self.environment(pod, c)
        except ValueError as e:
            state["waiting"] = ("CreateContainerConfigError", str(e))
            return
        command, args = c.get("command") or [], c.get("args") or []
        role = standin_role(image)
        if role:
            me = os.path.realpath(sys.argv[0])
            mounts += [("/usr", "/usr", True), ("/lib", "/usr/lib", True), ("/lib64", "/usr/lib64", True), (STANDIN_MOUNT + "/" + role, me, True)]
            command, env = ["/usr/bin/python3", STANDIN_MOUNT + "/" + role], env + [("KUBESTRAP_STANDIN_ROLE", role)]
        expand = lambda values: [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: dict(env).get(m.group(1), m.group(0)), v) for v in values]
        labels = {"io.kubernetes.container.name": c["name"], "io.kubernetes.pod.name": self.name, "io.kubernetes.pod.namespace": self.ns,
                  "io.kubernetes.pod.uid": self.uid}
        try:
            cid = self.cri.create_container(self.sandbox, self.sandbox_config or b"", c["name"], attempt, image, expand(command), expand(args),
                                            c.get("workingDir", ""), env, mounts, labels, log_rel, bool(dig(c, "securityContext", "privileged")))
        except CriError as e:
            state["waiting"] = ("CreateContainerError", str(e))
            self.log_event('"Failed to create container" container="%s" err=%s' % (c["name"], q(e)), "E")
            return
        try:
            self.cri.start_container(cid)
        except CriError as e:
            state.update(id=cid, attempt=attempt, term=term)
            state["waiting"] = ("RunContainerError", str(e))
            self.log_event('"Failed to start container" container="%s" err=%s' % (c["name"], q(e)), "E")
            return
        state.update(id=cid, attempt=attempt, term=term, started=time.time(), probes={})
        state.pop("waiting", None)
        self.log_event('started container %s (%s, attempt %d)' % (c["name"], cid[:13], attempt))

    def termination_message(self, c, state, status):
        text = ""
        try:
            with open(state.get("term") or "/nonexistent", "rb") as f:
                text = f.read(4096).decode("utf-8", "replace")
        except OSError:
            pass
        if not text and c.get("terminationMessagePolicy") == "FallbackToLogsOnError" and status["exit_code"] != 0:
            text = "\n".join(self.kubelet.read_log(status.get("log_path") or "", 80))[-2048:]
        return text

    def probe(self, pod, c, state, kind):
        """Runs the container's readiness or liveness probe when due; returns its current verdict (None: no probe)."""
        spec = c.get(kind + "Probe")
        if not spec:
            return None
        probes = state.setdefault("probes", {})
        record = probes.setdefault(kind, {"ok": kind == "liveness", "fails": 0, "passes": 0, "next": state.get("started", time.time()) + spec.get("initialDelaySeconds", 0)})
        if time.time() < record["next"]:
            return record["ok"]
        record["next"] = time.time() + spec.get("periodSeconds", 10)
        ok, timeout = False, spec.get("timeoutSeconds", 1)
        port = lambda p: next((cp["containerPort"] for cp in c.get("ports") or [] if cp.get("name") == p), p) if isinstance(p, str) else p
        try:
            if "httpGet" in spec:
                g = spec["httpGet"]
                host = g.get("host") or self.ip
                conn = (http.client.HTTPSConnection(host, port(g["port"]), timeout=timeout, context=ssl._create_unverified_context())
                        if g.get("scheme") == "HTTPS" else http.client.HTTPConnection(host, port(g["port"]), timeout=timeout))
                conn.request("GET", g.get("path", "/"), headers={h["name"]: h["value"] for h in g.get("httpHeaders") or []})
                ok = 200 <= conn.getresponse().status < 400
                conn.close()
            elif "tcpSocket" in spec:
                socket.create_connection((spec["tcpSocket"].get("host") or self.ip, port(spec["tcpSocket"]["port"])), timeout=timeout).close()
                ok = True
            elif "exec" in spec:
                ok = self.cri.exec_sync(state["id"], spec["exec"].get("command") or [], timeout)[0] == 0
        except (OSError, http.client.HTTPException, CriError):
            ok = False
        record["passes"], record["fails"] = (record["passes"] + 1, 0) if ok else (0, record["fails"] + 1)
        if ok and record["passes"] >= spec.get("successThreshold", 1):
            record["ok"] = True
        elif not ok and record["fails"] >= spec.get("failureThreshold", 3):
            record["ok"] = False
        return record["ok"]

    def sync_container(self, pod, c, restart_policy):
        """Starts, watches and restarts one container; returns its state dict."""
        state = self.states.setdefault(c["name"], {})
        if state.get("id"):
            try:
                status = self.cri.container_status(state["id"])
            except CriError:
                status = {"state": "unknown", "exit_code": 0}
            state["status"] = status
            if status["state"] == "running":
                if self.probe(pod, c, state, "liveness") is False:
                    self.log_event('Container %s failed liveness probe, will be restarted' % c["name"])
                    self.cri.stop_container(state["id"], dig(pod, "spec", "terminationGracePeriodSeconds", default=30))
                state["ready"] = self.probe(pod, c, state, "readiness") is not False
                return state
            state["ready"] = False
            if status["state"] in ("exited", "unknown") and not state.get("finished_seen"):
                state["finished_seen"] = True
                state["last"] = {"exitCode": status["exit_code"], "reason": status["reason"] or ("Completed" if status["exit_code"] == 0 else "Error"),
                                 "startedAt": cri_time(status["started"]), "finishedAt": cri_time(status["finished"]),
                                 "containerID": "containerd://" + state["id"]}
                message = self.termination_message(c, state, status)
                if message:
                    state["last"]["message"] = message
                ran = time.time() - state.get("started", 0)
                state["backoff"] = BACKOFF_START if ran > 600 else min(BACKOFF_MAX, state.get("backoff", BACKOFF_START / 2) * 2)
                state["retry_at"] = time.time() + state["backoff"]
            restart = restart_policy == "Always" or (restart_policy == "OnFailure" and status["exit_code"] != 0)
            if not restart:
                state["terminal"] = True
                return state
            if time.time() < state.get("retry_at", 0):
                state["waiting"] = ("CrashLoopBackOff", "back-off %ds restarting failed container=%s pod=%s_%s(%s)"
                                    % (state["backoff"], c["name"], self.name, self.ns, self.uid))
                return state
            try:
                self.cri.remove_container(state["id"])
            except CriError:
                pass
            state["restarts"] = state.get("restarts", 0) + 1
            state["id"], state["finished_seen"] = None, False
        self.start_container(pod, c, state)
        return state

    def sync(self, pod):
        if self.started_at is None:
            self.started_at = now_rfc3339()
        if self.volumes is None or time.time() - self.volumes_at > 600:  # again every 10 minutes: tokens rotate, configmaps change
            try:
                self.volumes, self.volumes_at = self.prepare_volumes(pod), time.time()
                self.problem = None
            except (ValueError, OSError, ApiError, NetError) as e:
                if self.volumes is None:
                    self.problem = ("ContainerCreating", "MountVolume.SetUp failed: %s" % describe_failure(e))
                    return
                self.log_event('"Failed to refresh volumes" err=%s' % q(describe_failure(e)), "E")
        if not self.ensure_sandbox(pod):
            return
        spec = pod.get("spec") or {}
        policy = spec.get("restartPolicy", "Always")
        for c in spec.get("initContainers") or []:  # in order, each to a successful end before the next
            if self.states.get(c["name"], {}).get("succeeded"):
                continue
            state = self.sync_container(pod, c, "OnFailure" if policy == "Always" else policy)
            if state.get("finished_seen") and dig(state, "last", "exitCode") == 0:
                state["succeeded"] = True
                continue
            if state.get("terminal"):
                self.finish()
            return
        for c in spec.get("containers") or []:
            self.sync_container(pod, c, policy)
        if all(self.states.get(c["name"], {}).get("terminal") for c in spec.get("containers") or []):
            self.finish()

    def finish(self):
        """A pod whose containers all ended for good: its sandbox is stopped (its IP returns to the pool), as upstream does."""
        self.finished = True
        if self.sandbox:
            try:
                self.cri.stop_sandbox(self.sandbox)
            except CriError as e:
                self.log_event("failed to stop the sandbox of a finished pod: %s" % e, "E")

    # -- status --

    def container_status(self, c, init=False):
        state = self.states.get(c["name"], {})
        status = state.get("status") or {}
        out = {"name": c["name"], "image": c["image"], "imageID": status.get("image_ref", ""), "ready": bool(state.get("ready")),
               "restartCount": state.get("restarts", 0), "started": status.get("state") == "running"}
        if state.get("id"):
            out["containerID"] = "containerd://" + state["id"]
        if state.get("id") and status.get("state") == "running" and not state.get("waiting"):
            out["state"] = {"running": {"startedAt": cri_time(status.get("started")) or now_rfc3339()}}
        elif state.get("terminal") or state.get("succeeded"):
            out["state"] = {"terminated": state.get("last") or {"exitCode": 0, "reason": "Completed"}}
        else:
            reason, message = state.get("waiting") or self.problem or ("PodInitializing" if init else "ContainerCreating", None)
            out["state"] = {"waiting": dict({"reason": reason}, **({"message": message} if message else {}))}
        if state.get("last") and "terminated" not in out["state"]:
            out["lastState"] = {"terminated": state["last"]}
        else:
            out["lastState"] = {}
        return out

    def status(self, pod):
        spec = pod.get("spec") or {}
        inits = [self.container_status(c, True) for c in spec.get("initContainers") or []]
        mains = [self.container_status(c) for c in spec.get("containers") or []]
        initialized = all("terminated" in s["state"] and s["state"]["terminated"].get("exitCode") == 0 for s in inits)
        terminated = [s["state"]["terminated"] for s in mains if "terminated" in s["state"]]
        failed_init = any(self.states.get(c["name"], {}).get("terminal") and dig(self.states[c["name"]], "last", "exitCode") for c in spec.get("initContainers") or [])
        if failed_init or (len(terminated) == len(mains) and mains and self.finished and any(t.get("exitCode") for t in terminated)):
            phase = "Failed"
        elif len(terminated) == len(mains) and mains and self.finished:
            phase = "Succeeded"
        elif self.sandbox and initialized and any("running" in s["state"] or "terminated" in s["state"] or s.get("restartCount") for s in mains):
            phase = "Running"
        else:
            phase = "Pending"
        ready = initialized and all(s["ready"] for s in mains) and phase == "Running"
        now = now_rfc3339()
        previous = {c["type"]: c for c in dig(pod, "status", "conditions", default=[]) or []}

        def condition(kind, value, reason=None):
            old = previous.get(kind) or {}
            c = {"type": kind, "status": "True" if value else "False", "lastProbeTime": None,
                 "lastTransitionTime": old.get("lastTransitionTime") if old.get("status") == ("True" if value else "False") else now}
            if reason and not value:
                c["reason"] = reason
            return c
        not_ready = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
        conditions = [condition("PodReadyToStartContainers", bool(self.sandbox and self.ip) and not self.finished),
                      condition("Initialized", initialized, "ContainersNotInitialized" if not initialized else None),
                      condition("Ready", ready, not_ready), condition("ContainersReady", ready, not_ready)]
        if "PodScheduled" in previous:
            conditions.append(previous["PodScheduled"])
        status = {"phase": phase, "conditions": conditions, "hostIP": self.kubelet.node_ip, "hostIPs": [{"ip": self.kubelet.node_ip}],
                  "startTime": dig(pod, "status", "startTime") or self.started_at, "containerStatuses": mains,
                  "qosClass": dig(pod, "status", "qosClass", default="BestEffort")}
        if inits:
            status["initContainerStatuses"] = inits
        if self.ip:
            status["podIP"], status["podIPs"] = self.ip, [{"ip": self.ip}]
        # null removes a field a merge patch would otherwise keep from an earlier report
        status["message"] = self.problem[1] if self.problem and phase == "Pending" else None
        return status

    def report(self, pod):
        status = self.status(pod)
        comparable = json.dumps({k: v for k, v in status.items() if k != "conditions"}, sort_keys=True) + json.dumps(
            [(c["type"], c["status"]) for c in status["conditions"]])
        if comparable == self.reported:
            return
        self.kubelet.client.patch("/api/v1/namespaces/%s/pods/%s/status" % (self.ns, self.name), {"status": status})
        self.reported = comparable

    # -- the end --

    def terminate(self, pod):
        """Stops what runs for the pod (within its grace period), removes it from the runtime and, for a pod that
        is still in the API server, deletes it for good: what a graceful deletion waits for."""
        grace = int(dig(pod or {}, "metadata", "deletionGracePeriodSeconds", default=30) or 0)
        for name, state in self.states.items():
            if state.get("id"):
                try:
                    self.cri.stop_container(state["id"], grace)
                    self.cri.remove_container(state["id"])
                except CriError as e:
                    self.log_event("failed to stop container %s: %s" % (name, e), "E")
        if self.sandbox:
            try:
                self.cri.stop_sandbox(self.sandbox)
                self.cri.remove_sandbox(self.sandbox)
            except CriError as e:
                self.log_event("failed to remove the sandbox: %s" % e, "E")
        shutil.rmtree(os.path.join(KUBELET_PODS_DIR, self.uid), ignore_errors=True)
        if pod is not None:
            try:
                self.kubelet.client.request("DELETE", "/api/v1/namespaces/%s/pods/%s" % (self.ns, self.name),
                                            {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}})
            except ApiError as e:
                if e.status not in (404, 409):
                    self.log_event('"Failed to delete pod" err=%s' % q(describe_failure(e)), "E")
        self.log_event("pod stopped and removed")
        self.done.set()


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

    def __init__(self, check=None, paths=("/healthz", "/livez", "/readyz")):
        self.check, self.paths = check, paths

    def serve(self, h, method):
        path = urllib.parse.urlsplit(h.path).path
        if path in self.paths:
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
        self.workload = [name for name in ("serviceaccount", "root-ca-cert-publisher", "deployment", "replicaset", "endpoint", "endpointslice",
                                           "garbagecollector") if enabled(name)]
        self.root_ca = read_file(flags.get("root-ca-file")).decode() if flags.get("root-ca-file") else None
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
        self.pass_cache = {}
        for name in self.workload:  # each on its own: one controller's refusal must not stop the others
            try:
                getattr(self, "sync_" + name.replace("-", "_"))()
            except ApiError as e:
                if e.status == 401:
                    raise
                log('"Unhandled Error" logger="%s-controller" err=%s' % (name, q(describe_failure(e))), "E")
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

    # -- the workload controllers a cluster's addons and checks need: service accounts, the root CA in every
    # namespace, Deployments -> ReplicaSets -> Pods, Services' Endpoints and EndpointSlices, garbage collection --

    def listed(self, path):
        """A list's items, read once per reconcile pass for every controller that needs them."""
        if path not in self.pass_cache:
            self.pass_cache[path] = self.root.get(path).get("items", [])
        return self.pass_cache[path]

    def sync_serviceaccount(self):
        client = self.controller_client("service-account-controller")
        namespaces = self.listed("/api/v1/namespaces")
        have = {(a["metadata"]["namespace"], a["metadata"]["name"]) for a in self.listed("/api/v1/serviceaccounts")}
        for ns in namespaces:
            name = ns["metadata"]["name"]
            if (name, "default") not in have and dig(ns, "status", "phase") != "Terminating":
                client.post(api_path(res("serviceaccounts"), name), {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}})

    def sync_root_ca_cert_publisher(self):
        if not self.root_ca:
            return
        client = self.controller_client("root-ca-cert-publisher")
        maps = {c["metadata"]["namespace"]: c for c in self.listed("/api/v1/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt")}
        for ns in self.listed("/api/v1/namespaces"):
            name = ns["metadata"]["name"]
            current = maps.get(name)
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": name, "annotations": {
                "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such "
                                             "as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions "
                                             "of Kubernetes clusters."}}, "data": {"ca.crt": self.root_ca}}
            if current is None:
                client.post(api_path(res("configmaps"), name), body)
            elif (current.get("data") or {}).get("ca.crt") != self.root_ca:
                current["data"] = body["data"]
                client.put(api_path(res("configmaps"), name, "kube-root-ca.crt"), current)

    @staticmethod
    def template_hash(template):
        return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]

    @staticmethod
    def owned_by(obj, owner):
        return any(r.get("uid") == owner["metadata"]["uid"] for r in dig(obj, "metadata", "ownerReferences", default=[]) or [])

    @staticmethod
    def owner_ref(owner, kind, api_version):
        return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                "controller": True, "blockOwnerDeletion": True}

    def sync_deployment(self):
        """A ReplicaSet per pod template (named by its hash) with the Deployment's replicas, the older ones scaled to 0
        once the new one is available (Recreate: at once), and the Deployment's status from them."""
        client = self.controller_client("deployment-controller")
        sets = self.listed("/apis/apps/v1/replicasets")
        for d in self.listed("/apis/apps/v1/deployments"):
            ns, spec = d["metadata"]["namespace"], d.get("spec") or {}
            template = json.loads(json.dumps(spec.get("template") or {}))
            pod_hash = self.template_hash(template)
            mine = [r for r in sets if r["metadata"]["namespace"] == ns and self.owned_by(r, d)]
            current = next((r for r in mine if dig(r, "metadata", "labels", "pod-template-hash") == pod_hash), None)
            replicas = spec.get("replicas", 1)
            if current is None:
                template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
                selector = json.loads(json.dumps(spec.get("selector") or {}))
                selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
                current = client.post(api_path(res("replicasets", "apps"), ns), {
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                        "name": "%s-%s" % (d["metadata"]["name"], pod_hash), "namespace": ns, "labels": dict(template["metadata"]["labels"]),
                        "annotations": {"deployment.kubernetes.io/revision": str(len(mine) + 1)},
                        "ownerReferences": [self.owner_ref(d, "Deployment", "apps/v1")]},
                    "spec": {"replicas": replicas, "selector": selector, "template": template}})
                log('"Created new replica set" deployment="%s/%s" replicaSet="%s"' % (ns, d["metadata"]["name"], current["metadata"]["name"]))
            elif dig(current, "spec", "replicas") != replicas:
                client.patch(api_path(res("replicasets", "apps"), ns, current["metadata"]["name"]), {"spec": {"replicas": replicas}})
            new_ready = dig(current, "status", "availableReplicas", default=0) or 0
            recreate = dig(spec, "strategy", "type") == "Recreate"
            for old in mine:
                if old["metadata"]["uid"] != current["metadata"]["uid"] and dig(old, "spec", "replicas", default=1) and (recreate or new_ready >= replicas):
                    client.patch(api_path(res("replicasets", "apps"), ns, old["metadata"]["name"]), {"spec": {"replicas": 0}})
            count = lambda field: sum(dig(r, "status", field, default=0) or 0 for r in mine)
            available = count("availableReplicas")
            status = {"observedGeneration": d["metadata"].get("generation", 1), "replicas": count("replicas"),
                      "updatedReplicas": dig(current, "status", "replicas", default=0) or 0, "readyReplicas": count("readyReplicas"),
                      "availableReplicas": available, "unavailableReplicas": max(0, replicas - available),
                      "conditions": [{"type": "Available", "status": "True" if available >= replicas else "False",
                                      "reason": "MinimumReplicasAvailable" if available >= replicas else "MinimumReplicasUnavailable",
                                      "message": "Deployment has minimum availability." if available >= replicas else "Deployment does not have minimum availability."},
                                     {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" if new_ready >= replicas else "ReplicaSetUpdated",
                                      "message": 'ReplicaSet "%s" %s.' % (current["metadata"]["name"], "has successfully progressed" if new_ready >= replicas else "is progressing")}]}
            old_status = {k: v for k, v in (d.get("status") or {}).items()}
            if json.dumps({k: old_status.get(k) for k in status}, sort_keys=True) != json.dumps(status, sort_keys=True):
                client.put(api_path(res("deployments", "apps"), ns, d["metadata"]["name"], "status"), dict(d, status=status))

    def sync_replicaset(self):
        """Pods from the template until there are `replicas` of them that are not being deleted; the extra ones deleted."""
        client = self.controller_client("replicaset-controller")
        pods = self.listed("/api/v1/pods")
        for rs in self.listed("/apis/apps/v1/replicasets"):
            ns, spec = rs["metadata"]["namespace"], rs.get("spec") or {}
            mine = [p for p in pods if p["metadata"]["namespace"] == ns and self.owned_by(p, rs)]
            alive = [p for p in mine if not dig(p, "metadata", "deletionTimestamp") and dig(p, "status", "phase") not in ("Succeeded", "Failed")]
            wanted = spec.get("replicas", 1)
            for _ in range(wanted - len(alive)):
                template = json.loads(json.dumps(spec.get("template") or {}))
                meta = template.setdefault("metadata", {})
                meta.update({"generateName": rs["metadata"]["name"] + "-", "namespace": ns, "ownerReferences": [self.owner_ref(rs, "ReplicaSet", "apps/v1")]})
                created = client.post(api_path(res("pods"), ns), dict(template, apiVersion="v1", kind="Pod"))
                log('"Created pod" replicaSet="%s/%s" pod="%s"' % (ns, rs["metadata"]["name"], created["metadata"]["name"]))
            for pod in sorted(alive, key=lambda p: (bool(dig(p, "spec", "nodeName")), p["metadata"].get("creationTimestamp", "")), reverse=False)[:max(0, len(alive) - wanted)]:
                client.delete(api_path(res("pods"), ns, pod["metadata"]["name"]))
            ready = [p for p in alive if any(c.get("type") == "Ready" and c.get("status") == "True" for c in dig(p, "status", "conditions", default=[]) or [])]
            status = {"replicas": len(alive), "fullyLabeledReplicas": len(alive), "readyReplicas": len(ready), "availableReplicas": len(ready),
                      "observedGeneration": rs["metadata"].get("generation", 1)}
            if any((rs.get("status") or {}).get(k) != v for k, v in status.items()):
                client.put(api_path(res("replicasets", "apps"), ns, rs["metadata"]["name"], "status"), dict(rs, status=status))

    def service_endpoints(self, services, pods):
        """(service, [(pod, ready)], ports) for every Service with a selector."""
        for svc in services:
            selector = dig(svc, "spec", "selector") or {}
            if not selector:
                continue
            ns = svc["metadata"]["namespace"]
            members = [p for p in pods if p["metadata"]["namespace"] == ns and dig(p, "status", "podIP") and not dig(p, "metadata", "deletionTimestamp")
                       and dig(p, "status", "phase") not in ("Succeeded", "Failed")
                       and all((dig(p, "metadata", "labels", default={}) or {}).get(k) == v for k, v in selector.items())]
            yield svc, [(p, any(c.get("type") == "Ready" and c.get("status") == "True" for c in dig(p, "status", "conditions", default=[]) or [])) for p in members]

    @staticmethod
    def target_port(port, pod):
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str):
            return next((cp["containerPort"] for c in dig(pod, "spec", "containers", default=[]) or [] for cp in c.get("ports") or []
                         if cp.get("name") == target), None)
        return target

    def sync_endpoint(self):
        client = self.controller_client("endpoint-controller")
        services = self.listed("/api/v1/services")
        pods = self.listed("/api/v1/pods")
        existing = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in self.listed("/api/v1/endpoints")}
        for svc, members in self.service_endpoints(services, pods):
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            subsets = []
            for p in dig(svc, "spec", "ports", default=[]) or []:
                ready = [{"ip": pod["status"]["podIP"], "nodeName": dig(pod, "spec", "nodeName"), "targetRef": {
                    "kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}} for pod, ok in members if ok and self.target_port(p, pod)]
                not_ready = [{"ip": pod["status"]["podIP"], "nodeName": dig(pod, "spec", "nodeName")} for pod, ok in members if not ok and self.target_port(p, pod)]
                if ready or not_ready:
                    subset = {"ports": [dict({"port": self.target_port(p, (members[0][0])), "protocol": p.get("protocol", "TCP")}, **({"name": p["name"]} if p.get("name") else {}))]}
                    if ready:
                        subset["addresses"] = ready
                    if not_ready:
                        subset["notReadyAddresses"] = not_ready
                    subsets.append(subset)
            current = existing.get((ns, name))
            body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns, "labels": dict(dig(svc, "metadata", "labels", default={}) or {})}}
            if subsets:
                body["subsets"] = subsets
            if current is None:
                client.post(api_path(res("endpoints"), ns), body)
            elif current.get("subsets") != body.get("subsets"):
                current["subsets"] = body.get("subsets")
                if current["subsets"] is None:
                    current.pop("subsets")
                client.put(api_path(res("endpoints"), ns, name), current)

    def sync_endpointslice(self):
        client = self.controller_client("endpointslice-controller")
        services = self.listed("/api/v1/services")
        pods = self.listed("/api/v1/pods")
        slices = self.listed("/apis/discovery.k8s.io/v1/endpointslices")
        for svc, members in self.service_endpoints(services, pods):
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            ports = [dict({"port": self.target_port(p, members[0][0]) if members else p.get("port"), "protocol": p.get("protocol", "TCP")},
                          **({"name": p["name"]} if p.get("name") else {"name": ""})) for p in dig(svc, "spec", "ports", default=[]) or []]
            endpoints = [{"addresses": [pod["status"]["podIP"]], "conditions": {"ready": ok, "serving": ok, "terminating": False},
                          "nodeName": dig(pod, "spec", "nodeName"), "targetRef": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                                                                                 "uid": pod["metadata"]["uid"]}} for pod, ok in members]
            current = next((sl for sl in slices if sl["metadata"]["namespace"] == ns and self.owned_by(sl, svc)), None)
            if current is None:
                client.post(api_path(res("endpointslices", "discovery.k8s.io"), ns), {
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4", "endpoints": endpoints, "ports": ports,
                    "metadata": {"generateName": name + "-", "namespace": ns, "labels": {"kubernetes.io/service-name": name,
                                                                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                                 "ownerReferences": [self.owner_ref(svc, "Service", "v1")]}})
            elif current.get("endpoints") != endpoints or current.get("ports") != ports:
                current.update(endpoints=endpoints, ports=ports)
                client.put(api_path(res("endpointslices", "discovery.k8s.io"), ns, current["metadata"]["name"]), current)

    def sync_garbagecollector(self):
        """Dependents whose owner is gone are deleted (background propagation), as the garbage collector does."""
        client = self.controller_client("generic-garbage-collector")
        owners = {}
        for resource in (res("deployments", "apps"), res("replicasets", "apps"), res("services")):
            owners.update({o["metadata"]["uid"]: o for o in self.listed(api_path(resource))})
        for resource in (res("replicasets", "apps"), res("pods"), res("endpointslices", "discovery.k8s.io")):
            for obj in self.listed(api_path(resource)):
                refs = dig(obj, "metadata", "ownerReferences", default=[]) or []
                if refs and all(r.get("uid") not in owners and r.get("kind") in ("Deployment", "ReplicaSet", "Service") for r in refs):
                    try:
                        client.delete(api_path(resource, obj["metadata"]["namespace"], obj["metadata"]["name"]))
                        log('"Deleting object" logger="garbage-collector-controller" object="%s/%s" objectUID="%s" kind="%s" propagationPolicy="Background"'
                            % (obj["metadata"]["namespace"], obj["metadata"]["name"], obj["metadata"]["uid"], resource.kind))
                    except ApiError as e:
                        if e.status != 404:
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
        renewed = 0.0
        while not stop.is_set():
            listed = {}
            for kind, path in (("*v1.Node", "/api/v1/nodes"), ("*v1.Pod", "/api/v1/pods")):
                try:
                    listed[kind] = self.client.get(path).get("items", [])
                except (ApiError, NetError) as e:
                    log('"Unhandled Error" err=%s' % q("failed to list %s: %s" % (kind, describe_failure(e))), "E")
            leading = self.elector is None
            if self.elector and time.time() - renewed > 2:
                try:
                    leading = self.elector.try_acquire_or_renew()
                    renewed = time.time()
                except (ApiError, NetError) as e:
                    log(lease_failure(self.elector, e), "E")
            elif self.elector:
                leading = self.elector.leading
            pending = leading and len(listed) == 2 and self.schedule(listed["*v1.Node"], listed["*v1.Pod"])
            stop.wait(1 if pending else 3)  # polls less while nothing waits: the lab's hosts share two cores
        log("received SIGTERM, shutting down")
        return 0

    # -- scheduling: the default scheduler's filters that decide where a pod may go, then the least-loaded node --

    @staticmethod
    def tolerated(taint, tolerations):
        for t in tolerations or []:
            if t.get("effect") and t["effect"] != taint.get("effect"):
                continue
            if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint.get("key")):
                return True
            if t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
                return True
        return False

    @staticmethod
    def affinity_matches(node, pod):
        terms = dig(pod, "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms") or []
        labels = dig(node, "metadata", "labels", default={}) or {}
        fields = {"metadata.name": node["metadata"]["name"]}

        def requirement(r, values):
            op, value = r.get("operator"), values.get(r.get("key"))
            return {"In": value in (r.get("values") or []), "NotIn": value not in (r.get("values") or []), "Exists": value is not None,
                    "DoesNotExist": value is None}.get(op, False)
        return not terms or any(all(requirement(r, labels) for r in term.get("matchExpressions") or [])
                                and all(requirement(r, fields) for r in term.get("matchFields") or []) for term in terms)

    def why_not(self, node, pod):
        """Why the pod may not go to this node, in the scheduler's words; None if it may."""
        spec = pod.get("spec") or {}
        ready = next((c for c in dig(node, "status", "conditions", default=[]) or [] if c.get("type") == "Ready"), {})
        if dig(node, "spec", "unschedulable"):
            return "node(s) were unschedulable"
        for taint in dig(node, "spec", "taints", default=[]) or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not self.tolerated(taint, spec.get("tolerations")):
                return "node(s) had untolerated taint {%s: %s}" % (taint.get("key"), taint.get("value", ""))
        if ready.get("status") != "True":
            return "node(s) were not ready"
        labels = dig(node, "metadata", "labels", default={}) or {}
        if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()) or not self.affinity_matches(node, pod):
            return "node(s) didn't match Pod's node affinity/selector"
        if spec.get("nodeName") and spec["nodeName"] != node["metadata"]["name"]:
            return "node(s) didn't match the requested node name"
        return None

    def schedule(self, nodes, pods):
        """Binds what can be bound; returns whether any pod was pending."""
        load, pending = {}, False
        for p in pods:
            if dig(p, "spec", "nodeName"):
                load[p["spec"]["nodeName"]] = load.get(p["spec"]["nodeName"], 0) + 1
        for pod in pods:
            spec, meta = pod.get("spec") or {}, pod["metadata"]
            if spec.get("nodeName") or meta.get("deletionTimestamp") or spec.get("schedulerName", "default-scheduler") != "default-scheduler" \
                    or dig(pod, "status", "phase") in ("Succeeded", "Failed"):
                continue
            pending = True
            reasons = {}
            fits = []
            for node in nodes:
                reason = self.why_not(node, pod)
                if reason:
                    reasons[reason] = reasons.get(reason, 0) + 1
                else:
                    fits.append(node["metadata"]["name"])
            path = "/api/v1/namespaces/%s/pods/%s" % (meta["namespace"], meta["name"])
            if not fits:
                message = "0/%d nodes are available: %s. preemption: 0/%d nodes are available: %d Preemption is not helpful for scheduling." % (
                    len(nodes), ", ".join("%d %s" % (n, r) for r, n in sorted(reasons.items())), len(nodes), len(nodes))
                current = next((c for c in dig(pod, "status", "conditions", default=[]) or [] if c.get("type") == "PodScheduled"), {})
                if current.get("message") != message:
                    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                                 "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
                    try:
                        self.client.patch(path + "/status", {"status": {"conditions": [condition]}}, "application/strategic-merge-patch+json")
                        log('"Unable to schedule pod; no fit; waiting" pod="%s/%s" err="%s"' % (meta["namespace"], meta["name"], message))
                    except (ApiError, NetError) as e:
                        log('"Error updating pod" pod="%s/%s" err=%s' % (meta["namespace"], meta["name"], q(describe_failure(e))), "E")
                continue
            target = min(fits, key=lambda n: (load.get(n, 0), random.random()))
            try:
                self.client.post(path + "/binding", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                                                     "target": {"apiVersion": "v1", "kind": "Node", "name": target}})
                load[target] = load.get(target, 0) + 1
                log('"Successfully bound pod to node" pod="%s/%s" node="%s" evaluatedNodes=%d feasibleNodes=%d' % (
                    meta["namespace"], meta["name"], target, len(nodes), len(fits)))
            except (ApiError, NetError) as e:
                log('"Error scheduling pod; retrying" pod="%s/%s" err=%s' % (meta["namespace"], meta["name"], q(describe_failure(e))), "E")
        return pending


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
        self.cluster_cidr = config.get("clusterCIDR") or flags.get("cluster-cidr") or ""
        self.programmed, self.chains, self.checked_at = None, set(), 0.0

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
            ok, listed = True, {}
            for kind, path in (("*v1.Service", "/api/v1/services"), ("*v1.EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices"),
                               ("*v1.Node", "/api/v1/nodes/" + self.node)):
                try:
                    listed[kind] = self.client.get(path)
                except (ApiError, NetError) as e:
                    if not (isinstance(e, ApiError) and e.status == 404 and kind == "*v1.Node"):
                        ok = False
                        log('"Unhandled Error" err=%s' % q("failed to list %s: %s" % (kind, describe_failure(e))), "E")
            if ok and self.sync_rules(listed["*v1.Service"].get("items", []), listed["*v1.EndpointSlice"].get("items", [])):
                self.synced_at = time.time()
            stop.wait(2)
        log("received SIGTERM, shutting down")
        return 0

    # -- Service IPs: upstream's iptables proxier's chains (nftables mode is served with the same rules, through iptables-nft) --

    @staticmethod
    def chain(prefix, *parts):
        return prefix + base64.b32encode(hashlib.sha256("".join(parts).encode()).digest()).decode()[:16]

    def rules(self, services, slices):
        """(nat rules, filter rules, chains) for every ClusterIP and NodePort: DNAT to a ready endpoint chosen at random,
        masquerading what does not come from the pod network (and hairpin traffic); REJECT where none is ready."""
        ready = {}
        for sl in slices:
            key = (sl["metadata"].get("namespace"), dig(sl, "metadata", "labels", "kubernetes.io/service-name"))
            for ep in sl.get("endpoints") or []:
                if dig(ep, "conditions", "ready") is not False:
                    for port in sl.get("ports") or []:
                        for address in ep.get("addresses") or []:
                            ready.setdefault(key + (port.get("name") or "",), set()).add((address, port.get("port"), port.get("protocol", "TCP")))
        nat, filt, chains = [], [], {"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"}
        for svc in sorted(services, key=lambda x: (x["metadata"].get("namespace"), x["metadata"]["name"])):
            ns, name, spec = svc["metadata"].get("namespace"), svc["metadata"]["name"], svc.get("spec") or {}
            ip = spec.get("clusterIP")
            if not ip or ip == "None" or spec.get("type") == "ExternalName":
                continue
            for p in spec.get("ports") or []:
                proto, port = p.get("protocol", "TCP"), p["port"]
                label = "%s/%s%s" % (ns, name, ":" + p["name"] if p.get("name") else "")
                match = "-p %s -m %s --dport %d" % (proto.lower(), proto.lower(), port)
                endpoints = sorted(e for e in ready.get((ns, name, p.get("name") or ""), set()) if e[2] == proto)
                if not endpoints:
                    filt.append('-A KUBE-SERVICES -d %s/32 %s -m comment --comment "%s has no endpoints" -j REJECT --reject-with icmp-port-unreachable'
                                % (ip, match, label))
                    if p.get("nodePort"):
                        filt.append('-A KUBE-EXTERNAL-SERVICES -p %s -m addrtype --dst-type LOCAL -m %s --dport %d -m comment --comment "%s has no endpoints" '
                                    '-j REJECT --reject-with icmp-port-unreachable' % (proto.lower(), proto.lower(), p["nodePort"], label))
                    continue
                svc_chain = self.chain("KUBE-SVC-", ns, name, p.get("name") or "", proto)
                chains.add(svc_chain)
                nat.append('-A KUBE-SERVICES -d %s/32 %s -m comment --comment "%s cluster IP" -j %s' % (ip, match, label, svc_chain))
                if self.cluster_cidr:
                    nat.append('-A %s ! -s %s -d %s/32 %s -m comment --comment "%s cluster IP" -j KUBE-MARK-MASQ' % (svc_chain, self.cluster_cidr, ip, match, label))
                if p.get("nodePort"):
                    nat.append('-A KUBE-NODEPORTS -p %s -m %s --dport %d -m comment --comment "%s" -j KUBE-MARK-MASQ' % (proto.lower(), proto.lower(), p["nodePort"], label))
                    nat.append('-A KUBE-NODEPORTS -p %s -m %s --dport %d -m comment --comment "%s" -j %s' % (proto.lower(), proto.lower(), p["nodePort"], label, svc_chain))
                for i, (address, target, _) in enumerate(endpoints):
                    sep = self.chain("KUBE-SEP-", ns, name, p.get("name") or "", proto, address, str(target))
                    chains.add(sep)
                    left = len(endpoints) - i
                    pick = "-m statistic --mode random --probability %.10f " % (1.0 / left) if left > 1 else ""
                    nat.append('-A %s -m comment --comment "%s -> %s:%s" %s-j %s' % (svc_chain, label, address, target, pick, sep))
                    nat.append('-A %s -s %s/32 -m comment --comment "%s" -j KUBE-MARK-MASQ' % (sep, address, label))
                    nat.append('-A %s -p %s -m comment --comment "%s" -m %s -j DNAT --to-destination %s:%s' % (sep, proto.lower(), label, proto.lower(), address, target))
        nat.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" '
                   '-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
        nat += ['-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000', '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
                '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
                '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE']
        return nat, filt, chains

    def sync_rules(self, services, slices):
        """Programs the rules when they changed (iptables-restore --noflush: only kube-proxy's chains are rewritten, stale ones deleted)."""
        if self.mode not in ("iptables", "nftables", ""):
            return True
        nat, filt, chains = self.rules(services, slices)
        wanted = (nat, filt)
        if wanted == self.programmed and (time.time() - self.checked_at < 30 or self.jumps_in_place()):
            self.checked_at = time.time() if time.time() - self.checked_at >= 30 else self.checked_at
            return True
        stale = sorted(self.chains - chains)
        text = "*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n" + "".join(r + "\n" for r in filt) + "COMMIT\n*nat\n"
        text += "".join(":%s - [0:0]\n" % c for c in sorted(chains | set(stale)))
        text += "".join(r + "\n" for r in nat) + "".join("-X %s\n" % c for c in stale) + "COMMIT\n"
        r = subprocess.run(["iptables-restore", "--noflush"], input=text.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            log('"Failed to execute iptables-restore" err=%s' % q(r.stderr.decode().strip()), "E")
            return False
        for table, chain, rule in KUBE_PROXY_JUMPS:
            if subprocess.run(["iptables", "-w", "-t", table, "-C", chain] + rule, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
                subprocess.run(["iptables", "-w", "-t", table, "-I", chain, "1"] + rule, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.programmed, self.chains, self.checked_at = wanted, chains, time.time()
        log("programmed %d service rules (%d chains)" % (len(nat), len(chains)))
        return True

    @staticmethod
    def jumps_in_place():
        return all(subprocess.run(["iptables", "-w", "-t", table, "-C", chain] + rule, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
                   for table, chain, rule in KUBE_PROXY_JUMPS)


# The jumps from the built-in chains into kube-proxy's, as upstream's iptables proxier installs them.
KUBE_PROXY_JUMPS = [
    ("nat", "PREROUTING", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
    ("nat", "OUTPUT", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
    ("nat", "POSTROUTING", ["-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"]),
    ("filter", "FORWARD", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
    ("filter", "OUTPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
    ("filter", "INPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes externally-visible service portals",
                         "-j", "KUBE-EXTERNAL-SERVICES"]),
]


# ---------------------------------------------------------------------------------------------------
# CoreDNS: what a provisioner's DNS addon must give pods. The lab's CoreDNS image idles; the kubelet
# stand-in runs this role in its container instead (so it has the pod's network namespace, IP and
# service-account token). It reads the Corefile it was given (-conf): the server block's port, the
# `kubernetes` plugin's zones and ttl, `forward`'s upstreams; it lists Services and EndpointSlices
# through the API server as in-cluster clients do (KUBERNETES_SERVICE_HOST, the token and CA under
# /var/run/secrets/kubernetes.io/serviceaccount), every 2 s instead of watching, and answers over
# UDP and TCP: A records for `<service>.<namespace>.svc.<zone>` (the ClusterIP; a headless service's
# ready endpoints, and `<hostname>.<service>...` for theirs), CNAME for ExternalName services,
# `<a-b-c-d>.<namespace>.pod.<zone>` (pods insecure), PTR for service IPs, NXDOMAIN for other names in
# its zones, and everything else forwarded to the upstreams (SERVFAIL when none answers). /health on
# :8080 and /ready on :8181 (ready once it listed Services), as the real plugins serve them.
# ---------------------------------------------------------------------------------------------------

DNS_A, DNS_CNAME, DNS_SOA, DNS_PTR, DNS_AAAA, DNS_SRV = 1, 5, 6, 12, 28, 33


def parse_corefile(text):
    """(port, zones, ttl, upstream list or resolv.conf path) of the first server block."""
    head = re.search(r"^\s*(?:dns://)?([^\s{]*?):(\d+)\s*\{", text, re.M)
    port = int(head.group(2)) if head else 53
    zones, ttl = [], 5
    k8s = re.search(r"^\s*kubernetes\b([^\n{]*)(\{(?:[^{}]|\{[^{}]*\})*\})?", text, re.M)
    if k8s:
        zones = [z.strip(".").lower() + "." for z in k8s.group(1).split()] or ["cluster.local."]
        m = re.search(r"^\s*ttl\s+(\d+)", k8s.group(2) or "", re.M)
        ttl = int(m.group(1)) if m else 5
    fwd = re.search(r"^\s*forward\s+\S+\s+([^\n{]+)", text, re.M)
    upstreams = fwd.group(1).split() if fwd else []
    return port, zones, ttl, upstreams


def dns_name(data, offset):
    """A (possibly compressed) name at offset: (name with a trailing dot, offset after it)."""
    labels, end, jumps = [], None, 0
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            end = end or offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            jumps += 1
            if jumps > 20:
                raise ValueError("compression loop")
            continue
        if length == 0:
            return ".".join(labels).lower() + ".", end or offset + 1
        labels.append(data[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


def dns_encode_name(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.strip(".").split(".") if label) + b"\0"


class CoreDns:
    def __init__(self, flags):
        self.conf = flags.get("conf") or "Corefile"
        self.port, self.zones, self.ttl, upstreams = parse_corefile(read_file(self.conf, "plugin/kubernetes: Corefile").decode())
        self.upstreams = [u for src in upstreams for u in (self.resolv_servers(src) if src.startswith("/") else [src.replace("dns://", "")])]
        self.client = KubeClient.in_cluster("coredns/%s (linux/amd64) standin" % VERSION)
        self.records, self.reverse, self.synced = {}, {}, False

    @staticmethod
    def resolv_servers(path):
        return [line.split()[1] for line in read_text(path).splitlines() if line.startswith("nameserver") and len(line.split()) > 1]

    def sync_loop(self, stop):
        while not stop.is_set():
            try:
                services = self.client.get("/api/v1/services").get("items", [])
                slices = self.client.get("/apis/discovery.k8s.io/v1/endpointslices").get("items", [])
                self.rebuild(services, slices)
                if not self.synced:
                    log("plugin/kubernetes: synced %d services" % len(services))
                self.synced = True
            except (ApiError, NetError) as e:
                log("plugin/kubernetes: Failed to watch: %s" % describe_failure(e), "E")
            stop.wait(2)

    def rebuild(self, services, slices):
        records, reverse = {}, {}
        ready = {}
        for sl in slices:
            svc = dig(sl, "metadata", "labels", "kubernetes.io/service-name")
            for ep in sl.get("endpoints") or []:
                if dig(ep, "conditions", "ready") is not False:
                    ready.setdefault((sl["metadata"].get("namespace"), svc), []).append(ep)
        for zone in self.zones:
            if zone.endswith("arpa."):
                continue
            for s in services:
                ns, name, spec = s["metadata"].get("namespace"), s["metadata"]["name"], s.get("spec") or {}
                fqdn = "%s.%s.svc.%s" % (name, ns, zone)
                if spec.get("type") == "ExternalName":
                    records[fqdn] = ("CNAME", spec.get("externalName", "").rstrip(".") + ".")
                elif spec.get("clusterIP") and spec["clusterIP"] != "None":
                    records[fqdn] = ("A", [spec["clusterIP"]])
                    reverse[".".join(reversed(spec["clusterIP"].split("."))) + ".in-addr.arpa."] = fqdn
                else:
                    eps = ready.get((ns, name), [])
                    records[fqdn] = ("A", sorted({a for ep in eps for a in ep.get("addresses") or []}))
                    for ep in eps:
                        if ep.get("hostname"):
                            records["%s.%s" % (ep["hostname"], fqdn)] = ("A", list(ep.get("addresses") or []))
        self.records, self.reverse = records, reverse

    def in_zone(self, name):
        return any(name == z or name.endswith("." + z) for z in self.zones)

    def lookup(self, name, qtype):
        """(rcode, [(type, data)]) for a name in the cluster's zones."""
        if name in self.reverse and qtype == DNS_PTR:
            return 0, [(DNS_PTR, dns_encode_name(self.reverse[name]))]
        record = self.records.get(name)
        if record is None:
            m = re.fullmatch(r"(\d+)-(\d+)-(\d+)-(\d+)\.[^.]+\.pod\.(.+)", name)
            if m and m.group(5) in self.zones:
                record = ("A", [".".join(m.group(1, 2, 3, 4))])
        if record is None:
            # a name some record lies below (e.g. `svc.cluster.local.`) exists without data: NODATA, not NXDOMAIN
            return (0 if any(r.endswith("." + name) for r in self.records) else 3), []
        kind, value = record
        if kind == "CNAME":
            return 0, [(DNS_CNAME, dns_encode_name(value))]
        if qtype in (DNS_A, 255):
            return 0, [(DNS_A, socket.inet_aton(ip)) for ip in value]
        return 0, []

    def answer(self, query):
        qid, flags, qdcount = int.from_bytes(query[0:2], "big"), int.from_bytes(query[2:4], "big"), int.from_bytes(query[4:6], "big")
        if qdcount != 1:
            return self.reply(query, qid, flags, 1, [], 12)
        name, offset = dns_name(query, 12)
        qtype = int.from_bytes(query[offset:offset + 2], "big")
        question_end = offset + 4
        if not self.in_zone(name) and name not in self.reverse:
            return self.forward(query, qid, flags, question_end)
        rcode, answers = self.lookup(name, qtype)
        return self.reply(query, qid, flags, rcode, answers, question_end, authoritative=True)

    def reply(self, query, qid, flags, rcode, answers, question_end, authoritative=False):
        out_flags = 0x8000 | (flags & 0x7900) | 0x0080 | (0x0400 if authoritative else 0) | rcode
        header = qid.to_bytes(2, "big") + out_flags.to_bytes(2, "big") + (1 if question_end > 12 else 0).to_bytes(2, "big") + \
            len(answers).to_bytes(2, "big") + b"\0\0\0\0"
        body = query[12:question_end] if question_end > 12 else b""
        for kind, data in answers:
            body += b"\xc0\x0c" + kind.to_bytes(2, "big") + b"\0\x01" + self.ttl.to_bytes(4, "big") + len(data).to_bytes(2, "big") + data
        return header + body

    def forward(self, query, qid, flags, question_end):
        for upstream in self.upstreams:
            host, _, port = upstream.rpartition(":") if upstream.count(":") == 1 else (upstream, "", "53")
            try:
                with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(2)
                    s.sendto(query, (host, int(port or 53)))
                    return s.recvfrom(65535)[0]
            except OSError as e:
                log('plugin/forward: %s: %s' % (upstream, e), "E")
        return self.reply(query, qid, flags, 2, [], question_end)

    def serve_udp(self, sock):
        while True:
            data, peer = sock.recvfrom(4096)
            try:
                sock.sendto(self.answer(data), peer)
            except (ValueError, IndexError) as e:
                log("plugin/errors: malformed query from %s: %s" % (peer[0], e), "E")

    def serve_tcp(self, sock):
        def one(conn):
            with conn:
                try:
                    size = int.from_bytes(conn.recv(2), "big")
                    data = b""
                    while len(data) < size:
                        chunk = conn.recv(size - len(data))
                        if not chunk:
                            return
                        data += chunk
                    reply = self.answer(data)
                    conn.sendall(len(reply).to_bytes(2, "big") + reply)
                except (OSError, ValueError, IndexError):
                    pass
        while True:
            conn, _ = sock.accept()
            conn.settimeout(5)
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    def health(self):
        return 200, "OK", "text/plain"

    def ready(self):
        return (200, "OK", "text/plain") if self.synced else (503, "plugin/kubernetes: not synced", "text/plain")

    def run(self):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            udp.bind(("0.0.0.0", self.port))
            tcp.bind(("0.0.0.0", self.port))
        except OSError as e:
            fatal("listen udp :%d: bind: %s" % (self.port, go_strerror(e)))
        tcp.listen(64)
        threading.Thread(target=self.serve_udp, args=(udp,), daemon=True).start()
        threading.Thread(target=self.serve_tcp, args=(tcp,), daemon=True).start()
        Server("0.0.0.0", 8080, PlainHealth(self.health, paths=("/health",)))
        Server("0.0.0.0", 8181, PlainHealth(self.ready, paths=("/ready",)))
        log(".:%d on %s, zones %s, upstreams %s (CoreDNS stand-in %s)" % (self.port, os.environ.get("HOSTNAME", ""), " ".join(self.zones),
                                                                        " ".join(self.upstreams) or "none", VERSION))
        self.sync_loop(stop)
        log("[INFO] SIGTERM: Shutting down servers then terminating")
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
                kvs, _ = self.etcd.range_prefix(self.prefix + "/subnets/")
                peers = {}
                for kv in kvs:
                    try:
                        peers[unb64(kv["key"]).decode().rsplit("/", 1)[-1].replace("-", "/")] = json.loads(kv_value(kv)).get("PublicIP")
                    except ValueError:
                        continue
                self.program(config, subnet, peers)
                stop.wait(5)
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
            try:
                nodes = self.client.get("/api/v1/nodes").get("items", [])
                self.program(self.net_config, subnet, {dig(n, "spec", "podCIDR"): dig(n, "metadata", "annotations", "flannel.alpha.coreos.com/public-ip")
                                                       for n in nodes if dig(n, "spec", "podCIDR")})
            except (ApiError, NetError) as e:
                log("failed to list nodes for routes: %s" % describe_failure(e), "E")
            stop.wait(5)
        return 0

    # -- the data path: routes between nodes (host-gw), masquerading (--ip-masq), forwarding --

    def program(self, config, own, peers):
        """A route to every other node's subnet via its public IP, as flannel's host-gw backend programs them (for any
        configured backend: the lab's hosts share one bridge, so no encapsulation is needed); routes to subnets that
        have no lease any more are removed. With --ip-masq, flannel's masquerading rules; and its forwarding rules."""
        network = config["network"]
        out = subprocess.run(["ip", "-4", "route", "show"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
        current = {}
        for m in re.finditer(r"^(\d+\.\d+\.\d+\.\d+/\d+) via (\S+) dev (\S+)", out, re.M):
            net = ipaddress.ip_network(m.group(1))
            if net.subnet_of(network) and net != own:
                current[str(net)] = m.group(2)
        wanted = {str(ipaddress.ip_network(k)): v for k, v in peers.items() if k and v and v != self.public_ip and ipaddress.ip_network(k) != own}
        for subnet, gateway in sorted(wanted.items()):
            if current.get(subnet) != gateway:
                r = subprocess.run(["ip", "route", "replace", subnet, "via", gateway, "dev", self.iface], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                log("route %s via %s dev %s%s" % (subnet, gateway, self.iface, ": " + r.stdout.decode().strip() if r.returncode else ""),
                    "E" if r.returncode else "I")
        for subnet in sorted(set(current) - set(wanted)):
            subprocess.run(["ip", "route", "del", subnet], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            log("removed route %s: its lease is gone" % subnet)
        self.program_iptables(network, own)

    def program_iptables(self, network, own):
        key = (str(network), str(own))
        if getattr(self, "rules_key", None) == key and time.time() - getattr(self, "rules_at", 0) < 30:
            return
        comment = ["-m", "comment", "--comment", "flanneld masq"]
        rules = [("filter", "FLANNEL-FWD", ["-s", str(network), "-m", "comment", "--comment", "flanneld forward", "-j", "ACCEPT"]),
                 ("filter", "FLANNEL-FWD", ["-d", str(network), "-m", "comment", "--comment", "flanneld forward", "-j", "ACCEPT"])]
        jumps = [("filter", "FORWARD", ["-m", "comment", "--comment", "flanneld forward", "-j", "FLANNEL-FWD"])]
        if self.ip_masq:
            rules += [("nat", "FLANNEL-POSTRTG", ["-m", "mark", "--mark", "0x4000/0x4000"] + comment + ["-j", "RETURN"]),
                      ("nat", "FLANNEL-POSTRTG", ["-s", str(own), "-d", str(network)] + comment + ["-j", "RETURN"]),
                      ("nat", "FLANNEL-POSTRTG", ["-s", str(network), "-d", str(own)] + comment + ["-j", "RETURN"]),
                      ("nat", "FLANNEL-POSTRTG", ["!", "-s", str(network), "-d", str(own)] + comment + ["-j", "RETURN"]),
                      ("nat", "FLANNEL-POSTRTG", ["-s", str(network), "!", "-d", "224.0.0.0/4"] + comment + ["-j", "MASQUERADE"]),
                      ("nat", "FLANNEL-POSTRTG", ["!", "-s", str(network), "-d", str(network)] + comment + ["-j", "MASQUERADE"])]
            jumps.append(("nat", "POSTROUTING", comment + ["-j", "FLANNEL-POSTRTG"]))
        text = ""
        for table in ("filter", "nat"):
            chains = sorted({c for t, c, _ in rules if t == table})
            if chains:
                text += "*%s\n" % table + "".join(":%s - [0:0]\n" % c for c in chains)
                text += "".join("-A %s %s\n" % (c, " ".join(shlex_quote(a) for a in r)) for t, c, r in rules if t == table) + "COMMIT\n"
        r = subprocess.run(["iptables-restore", "--noflush"], input=text.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode:
            log("failed to set up iptables rules: %s" % r.stderr.decode().strip(), "E")
            return
        for table, chain, rule in jumps:
            if subprocess.run(["iptables", "-w", "-t", table, "-C", chain] + rule, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
                subprocess.run(["iptables", "-w", "-t", table, "-A", chain] + rule, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if getattr(self, "rules_key", None) != key:
            log("iptables: forwarding for %s%s" % (network, ", masquerading what leaves it" if self.ip_masq else ""))
        self.rules_key, self.rules_at = key, time.time()

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


def shlex_quote(arg):
    """An iptables-restore word: quoted when it holds a blank."""
    return '"%s"' % arg if " " in arg else arg


def read_text_strict(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise ValueError("open %s: %s" % (path, go_strerror(e)))


# ---------------------------------------------------------------------------------------------------
# The flannel CNI plugin (/opt/cni/bin/flannel), as upstream's meta-plugin (flannel-io/cni-plugin):
# ADD reads flanneld's subnet file, completes the `delegate` config (type bridge, the subnet as
# host-local's range and the flannel network as its route, ipMasq unless flanneld masquerades, mtu,
# isGateway), saves it under dataDir for DEL, and runs the delegate plugin (the real bridge, which
# runs the real host-local) found in CNI_PATH, with the same environment; DEL and CHECK run the saved
# config's plugin. Errors as CNI's skel prints them: {"code", "msg"} on stdout, exit 1.
# ---------------------------------------------------------------------------------------------------

CNI_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def flannel_subnet_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            env[key] = value
    missing = [k for k in ("FLANNEL_NETWORK", "FLANNEL_SUBNET", "FLANNEL_MTU", "FLANNEL_IPMASQ") if k not in env]
    if missing:
        raise ValueError("%s is missing %s" % (path, ", ".join(missing)))
    return env


def cni_delegate(plugin, conf):
    """Runs a CNI plugin from CNI_PATH with conf on stdin and this process's environment; relays its output."""
    for directory in os.environ.get("CNI_PATH", "").split(":"):
        binary = os.path.join(directory, plugin)
        if directory and os.path.isfile(binary) and os.access(binary, os.X_OK):
            r = subprocess.run([binary], input=json.dumps(conf).encode(), stdout=subprocess.PIPE)
            sys.stdout.write(r.stdout.decode())
            return r.returncode
    raise ValueError('failed to find plugin "%s" in path [%s]' % (plugin, " ".join(os.environ.get("CNI_PATH", "").split(":"))))


def flannel_cni():
    command = os.environ.get("CNI_COMMAND", "")
    raw = sys.stdin.read() if command != "VERSION" else ""
    try:
        conf = json.loads(raw) if raw.strip() else {}
        if command == "VERSION":
            sys.stdout.write(json.dumps({"cniVersion": "1.0.0", "supportedVersions": CNI_VERSIONS}))
            return 0
        if command not in ("ADD", "DEL", "CHECK", "STATUS", "GC"):
            raise ValueError('unknown CNI_COMMAND: %s' % command)
        if command in ("STATUS", "GC"):
            return 0
        scratch = os.path.join(conf.get("dataDir") or "/var/lib/cni/flannel", os.environ.get("CNI_CONTAINERID", ""))
        if command in ("DEL", "CHECK"):
            if not os.path.exists(scratch):
                return 0  # nothing was set up, or DEL ran already
            with open(scratch) as f:
                delegate = json.load(f)
            code = cni_delegate(delegate["type"], delegate)
            if command == "DEL" and code == 0:
                os.remove(scratch)
            return code
        env = flannel_subnet_env(conf.get("subnetFile") or "/run/flannel/subnet.env")
        delegate = dict(conf.get("delegate") or {})
        for key in ("name", "ipam"):
            if key in delegate:
                raise ValueError("'delegate' dictionary must not have '%s' field, it'll be set by flannel" % key)
        if conf.get("runtimeConfig"):
            delegate["runtimeConfig"] = conf["runtimeConfig"]
        delegate["name"] = conf.get("name")
        delegate.setdefault("type", "bridge")
        delegate.setdefault("ipMasq", env["FLANNEL_IPMASQ"] != "true")
        delegate.setdefault("mtu", int(env["FLANNEL_MTU"]))
        if delegate["type"] == "bridge":
            delegate.setdefault("isGateway", True)
        if conf.get("cniVersion"):
            delegate["cniVersion"] = conf["cniVersion"]
        ipam = dict(conf.get("ipam") or {})
        ipam.setdefault("type", "host-local")
        ipam["ranges"] = [[{"subnet": str(ipaddress.ip_network(env["FLANNEL_SUBNET"], strict=False))}]]
        ipam["routes"] = list(ipam.get("routes") or []) + [{"dst": str(ipaddress.ip_network(env["FLANNEL_NETWORK"], strict=False))}]
        delegate["ipam"] = ipam
        os.makedirs(os.path.dirname(scratch), mode=0o700, exist_ok=True)
        with open(scratch, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            json.dump(delegate, f)
        return cni_delegate(delegate["type"], delegate)
    except (OSError, ValueError, KeyError) as e:
        text = "open %s: %s" % (e.filename, go_strerror(e)) if isinstance(e, OSError) and e.filename else str(e)
        sys.stdout.write(json.dumps({"cniVersion": "1.0.0", "code": 999, "msg": text}))
        return 1


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
    "flannel": lambda flags: flannel_cni(),
    "coredns": lambda flags: CoreDns(flags).run(),
}


def main():
    component = component_name()
    if component == "flannel":  # a CNI plugin: its input is the environment and stdin, not flags
        return flannel_cni()
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
