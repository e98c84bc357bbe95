import { HOST_PATHS } from '../components/paths.js';

/**
 * systemd units for containerd and Docker installed from static binaries (the packages bring
 * their own): upstream's units (containerd's containerd.service, moby's contrib/init/systemd),
 * pointed at where kubestrap puts the binaries. Only a bundle install writes them, so they never
 * shadow a package's units.
 */
export interface RuntimeUnit {
  path: string;
  content: string;
}

const bin = HOST_PATHS.runtimeBinDir;

export function runtimeUnits(): RuntimeUnit[] {
  return [
    {
      path: `${HOST_PATHS.systemdDir}/containerd.service`,
      content: [
        '# Managed by kubestrap: containerd from the offline bundle (CONTAINER_RUNTIME_SOURCE=bundle).',
        '[Unit]',
        'Description=containerd container runtime',
        'Documentation=https://containerd.io',
        'After=network.target local-fs.target',
        '',
        '[Service]',
        "# overlayfs is containerd's snapshotter; a kernel with it built in has no module to load.",
        'ExecStartPre=-/sbin/modprobe overlay',
        `ExecStart=${bin}/containerd`,
        'Type=notify',
        '# containerd and its shims manage their own cgroups; stopping containerd leaves containers running.',
        'Delegate=yes',
        'KillMode=process',
        'Restart=always',
        'RestartSec=5',
        'LimitNPROC=infinity',
        'LimitCORE=infinity',
        'TasksMax=infinity',
        'OOMScoreAdjust=-999',
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
      ].join('\n'),
    },
    {
      path: `${HOST_PATHS.systemdDir}/docker.service`,
      content: [
        '# Managed by kubestrap: Docker from the offline bundle (CONTAINER_RUNTIME_SOURCE=bundle).',
        '[Unit]',
        'Description=Docker Application Container Engine',
        'Documentation=https://docs.docker.com',
        'After=network-online.target containerd.service',
        'Wants=network-online.target containerd.service',
        '',
        '[Service]',
        'Type=notify',
        '# The containerd that also serves the kubelet; settings come from /etc/docker/daemon.json.',
        `ExecStart=${bin}/dockerd --containerd=/run/containerd/containerd.sock`,
        'ExecReload=/bin/kill -s HUP $MAINPID',
        'TimeoutStartSec=0',
        'Restart=always',
        'RestartSec=2',
        'StartLimitBurst=3',
        'StartLimitInterval=60s',
        'LimitNPROC=infinity',
        'LimitCORE=infinity',
        'TasksMax=infinity',
        'Delegate=yes',
        'KillMode=process',
        'OOMScoreAdjust=-500',
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
      ].join('\n'),
    },
  ];
}
