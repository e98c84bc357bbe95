import { z } from 'zod';

/**
 * The inventory: which hosts exist, how to reach them, what they run. Every object is strict, so a
 * typo such as `adress:` is an error with its YAML path instead of a silently ignored field.
 */
export const ROLES = ['etcd', 'master', 'worker'] as const;
export type Role = (typeof ROLES)[number];

const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the NAME of an environment variable (the secret itself never goes in the inventory)');

const port = z.number().int().min(1).max(65535);

const hostAddress = z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'an IPv4 address or a DNS name, e.g. 192.168.1.102');

const userName = z.string().regex(/^[a-z_][a-z0-9_.-]*\$?$/, 'a Unix user name such as root');

/** How to log in. Each field may be set once for all hosts (top-level `ssh`) and overridden per host. */
export const SshSettingsSchema = z
  .object({
    user: userName.optional(),
    port: port.optional(),
    keyFile: z.string().min(1).optional(),
    passphraseEnv: envVarName.optional(),
    passwordEnv: envVarName.optional(),
    agent: z.boolean().optional(),
    sudoPasswordEnv: envVarName.optional(),
  })
  .strict();

export const JumpHostSchema = z
  .object({
    address: hostAddress,
    port: port.optional(),
    user: userName.optional(),
    keyFile: z.string().min(1).optional(),
    passphraseEnv: envVarName.optional(),
    passwordEnv: envVarName.optional(),
    agent: z.boolean().optional(),
  })
  .strict();

const HostSshSchema = SshSettingsSchema.extend({ jump: JumpHostSchema.optional() }).strict();

const propertyValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

export const HostSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a lower-case host name of letters, digits and "-" (it becomes the Kubernetes node name), e.g. node1'),
    /**
     * Where SSH connects. May be left out when ssh_config has a HostName for the host's name (an SSH
     * alias); when given, it wins over HostName.
     */
    address: hostAddress.optional(),
    /** The address the cluster uses (NODE_IP); defaults to `address`, which must then be an IP. */
    internalAddress: z.string().optional(),
    roles: z.array(z.enum(ROLES)).min(1, 'at least one of etcd, master, worker'),
    ssh: HostSshSchema.optional(),
    properties: z.record(z.string(), propertyValue).optional(),
    /**
     * The host is to leave the cluster: `apply` drains and deletes its Node, removes its etcd member,
     * takes what kubestrap installed off it and updates the rest; then the entry can go.
     */
    remove: z.boolean().optional(),
  })
  .strict();

export const InventorySchema = z
  .object({
    cluster: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/, 'a short lower-case name of letters, digits and "-", e.g. prod'),
    /** Local state (PKI, known_hosts, logs, lock); default .kubestrap/<cluster> next to the inventory. */
    stateDir: z.string().min(1).optional(),
    ssh: SshSettingsSchema.extend({
      knownHosts: z.string().min(1).optional(),
      jump: JumpHostSchema.optional(),
    })
      .strict()
      .optional(),
    hosts: z.array(HostSchema).min(1, 'list at least one host'),
  })
  .strict();

export type InventoryInput = z.input<typeof InventorySchema>;
export type Inventory = z.output<typeof InventorySchema>;
export type InventoryHost = z.output<typeof HostSchema>;
export type JumpHost = z.output<typeof JumpHostSchema>;
