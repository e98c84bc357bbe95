import { z } from 'zod';

/**
 * The `--output json` reports of `bootstrap kubeconfig` and `bootstrap tunnel`, as zod schemas:
 * each command parses its report with its schema before printing it, so what a script reads cannot
 * drift from what is documented here (and from the JSON Schema generated from it).
 */
export const kubeconfigReportSchema = z
  .object({
    user: z.string().meta({ description: "the certificate's CN: the user RBAC bindings name" }),
    groups: z.array(z.string()).meta({ description: "the certificate's O entries: the groups RBAC bindings may name" }),
    serialNumber: z.string().meta({ description: "the certificate's serial, lower-case hex" }),
    notAfter: z.string().meta({ description: 'when the certificate expires (ISO 8601); it cannot be revoked before' }),
    server: z.string().meta({ description: 'the API server URL the kubeconfig names' }),
    context: z.string().meta({ description: "the kubeconfig's context and user entry: <user>@<cluster>" }),
    file: z.string().nullable().meta({ description: 'the kubeconfig written (0600), or null with --merge alone' }),
    mergedInto: z.string().nullable().meta({ description: 'the kubeconfig merged into with --merge, else null' }),
    replaced: z.object({ serialNumber: z.string(), notAfter: z.string() }).strict().nullable().meta({ description: "the user's certificate the record listed before: still valid until it expires" }),
  })
  .strict();

export const tunnelReportSchema = z
  .object({
    listening: z.string().meta({ description: 'the local address, 127.0.0.1:<port>' }),
    server: z.string().meta({ description: 'the URL to give kubectl: https://127.0.0.1:<port>' }),
    master: z.string().meta({ description: 'the master connections go through (the next that answers when it stops)' }),
    apiserver: z.string().meta({ description: "the API server's address as the master reaches it" }),
  })
  .strict();

export type KubeconfigReport = z.input<typeof kubeconfigReportSchema>;
export type TunnelReport = z.input<typeof tunnelReportSchema>;
