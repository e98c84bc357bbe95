# Managed by kubestrap: the cluster's binaries (kubectl, etcdctl) on login shells' PATH.
case ":$PATH:" in *":{{ BIN_PATH }}:"*) ;; *) PATH="$PATH:{{ BIN_PATH }}" ;; esac
