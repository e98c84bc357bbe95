# Managed by kubestrap: root's kubectl on a master talks to the cluster as its administrator.
if [ "$(id -u)" = 0 ] && [ -z "${KUBECONFIG:-}" ]; then export KUBECONFIG={{ pki.adminConf }}; fi
