# Managed by kubestrap: root's etcdctl on an etcd member talks to it over TLS as etcd's root user (etcdctl member list).
# A function, not exported ETCDCTL_* variables: etcdctl 3.6 stops with "conflicting environment
# variable is shadowed by corresponding command-line flag" when a variable and a flag name the same
# setting, and every etcdctl call that gives its own flags (kubestrap's, a script's) would inherit
# the variables. Flags typed after `etcdctl` come last and win (--endpoints=... talks elsewhere).
if [ "$(id -u)" = 0 ]; then
  etcdctl() {
    command etcdctl --endpoints=https://127.0.0.1:{{ ports.etcdClient }} --cacert={{ pki.etcdCaCert }} --cert={{ pki.etcdAdminClientCert }} --key={{ pki.etcdAdminClientKey }} "$@"
  }
fi
