# Managed by kubestrap: root's etcdctl on an etcd member talks to it over TLS as etcd's root user (etcdctl member list).
if [ "$(id -u)" = 0 ]; then
  export ETCDCTL_API=3 ETCDCTL_ENDPOINTS=https://127.0.0.1:{{ ports.etcdClient }}
  export ETCDCTL_CACERT={{ pki.etcdCaCert }} ETCDCTL_CERT={{ pki.etcdAdminClientCert }} ETCDCTL_KEY={{ pki.etcdAdminClientKey }}
fi
