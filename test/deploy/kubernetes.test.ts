import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

import { loadConfigAsync } from '../../src/config/config';
import { PROVIDED_SECRET_NAMES } from '../../src/config/secret-providers';
import { initCrypto } from '../../src/crypto';

// No cluster where the tests run: these parse every manifest under deploy/kubernetes and check the properties the
// deployment promises (README, "Deployment"). YAML 1.1, as Kubernetes reads it (sigs.k8s.io/yaml).

const DIR = join(__dirname, '..', '..', 'deploy', 'kubernetes');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
interface Manifest {
  file: string;
  kind: string;
  apiVersion: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Json;
  data?: Record<string, string>;
  [key: string]: Json;
}

function load(): Manifest[] {
  const manifests: Manifest[] = [];
  for (const file of readdirSync(DIR).filter((name) => /\.ya?ml$/.test(name))) {
    for (const document of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'), { version: '1.1' })) {
      if ('errors' in document && document.errors.length > 0) throw new Error(`${file}: ${document.errors[0].message}`);
      const value = document.toJS() as Manifest | null;
      if (value) manifests.push({ ...value, file });
    }
  }
  return manifests;
}

const manifests = load();
const resources = manifests.filter((m) => m.kind !== 'Kustomization');
const only = (kind: string, name?: string): Manifest => {
  const found = resources.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0];
};
const all = (kind: string): Manifest[] => resources.filter((m) => m.kind === kind);

const deployment = only('Deployment', 'hms-api');
const pod = deployment.spec.template.spec;
const api = pod.containers.find((c: Json) => c.name === 'api');
const apiLabels = { 'app.kubernetes.io/name': 'hms-api' };

describe('deploy/kubernetes', () => {
  it('parses, every resource is namespaced in hms, and kustomization lists every file', () => {
    expect(resources.length).toBeGreaterThanOrEqual(12);
    for (const m of resources) {
      expect(m.apiVersion).toBeTruthy();
      if (m.kind !== 'Namespace') expect([m.file, m.metadata.namespace]).toEqual([m.file, 'hms']);
    }
    const kustomization = manifests.find((m) => m.kind === 'Kustomization') as Json;
    const files = [...new Set(resources.map((m) => m.file))].sort();
    expect([...kustomization.resources].sort()).toEqual(files);
  });

  it('commits no secret value: no Secret manifest, no secret in env or the ConfigMap', () => {
    expect(all('Secret')).toEqual([]);
    const configMap = only('ConfigMap', 'hms-api-config');
    for (const name of PROVIDED_SECRET_NAMES) expect(Object.keys(configMap.data ?? {})).not.toContain(name);
    expect(configMap.data?.DATABASE_URL).not.toMatch(/:\/\/[^@/]*:[^@/]*@/);
    for (const variable of api.env) expect(variable.valueFrom?.secretKeyRef).toBeUndefined();
    for (const variable of api.env) expect(PROVIDED_SECRET_NAMES as readonly string[]).not.toContain(variable.name);
  });

  it('reads every secret the production configuration needs as a file of the mounted Secret', () => {
    const mount = api.volumeMounts.find((m: Json) => m.name === 'secrets');
    const volume = pod.volumes.find((v: Json) => v.name === 'secrets');
    expect(volume.secret.secretName).toBe('hms-api-secrets');
    expect(volume.secret.defaultMode).toBe(0o440);
    expect(mount.readOnly).toBe(true);
    // A subPath mount would never see a rotated Secret.
    expect(mount.subPath).toBeUndefined();
    const files = Object.fromEntries(api.env.map((v: Json) => [v.name, v.value]));
    for (const name of PROVIDED_SECRET_NAMES.filter((n) => n !== 'HMS_BOOTSTRAP_ADMIN_PASSWORD')) {
      expect(files[`${name}_FILE`]).toBe(`${mount.mountPath}/${name}`);
    }
    const config = only('ConfigMap', 'hms-api-config').data as Record<string, string>;
    expect(config.NODE_ENV).toBe('production');
    expect(Number(config.SECRETS_REFRESH_SECONDS)).toBeGreaterThan(0);
  });

  it('gives the pod a production configuration that the server accepts, secrets read from the mounted files', async () => {
    await initCrypto();
    const dir = mkdtempSync(join(tmpdir(), 'hms-k8s-'));
    const mountPath = api.volumeMounts.find((m: Json) => m.name === 'secrets').mountPath as string;
    const values: Record<string, string> = {
      TOKEN_SIGNING_SECRET: randomBytes(32).toString('base64url'),
      MASTER_KEYS: `1:${randomBytes(32).toString('base64')}`,
      BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
      AUDIT_HMAC_KEY: randomBytes(32).toString('base64'),
      DATABASE_PASSWORD: randomBytes(24).toString('base64url'),
      REDIS_PASSWORD: randomBytes(24).toString('base64url'),
      STRIPE_SECRET_KEY: `sk_live_${randomBytes(18).toString('hex')}`,
      SIEM_AUTH_TOKEN: randomBytes(24).toString('base64url'),
    };
    // The Secret as the kubelet writes it: one file per key, under a temporary stand-in for the mount path.
    for (const [name, value] of Object.entries(values)) writeFileSync(join(dir, name), value);
    const env: Record<string, string> = { ...only('ConfigMap', 'hms-api-config').data };
    for (const variable of api.env) env[variable.name] = String(variable.value).replace(mountPath, dir);

    try {
      const config = await loadConfigAsync(env);
      expect(config.isProduction).toBe(true);
      expect(config.database.password).toBe(values.DATABASE_PASSWORD);
      expect(config.redis.password).toBe(values.REDIS_PASSWORD);
      expect(config.tokens.signingSecret).toBe(values.TOKEN_SIGNING_SECRET);
      // Mounted files are refreshed, so a rotated Secret reaches the running pod.
      expect(config.secrets?.kind).toBe('env');
      config.secrets?.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pins the image by digest', () => {
    for (const container of pod.containers)
      expect(container.image).toMatch(/^[a-z0-9.-]+(\/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}$/);
  });

  it('runs without privileges: non-root, no escalation, read-only root, all capabilities dropped, RuntimeDefault', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const context = container.securityContext;
      expect(context.runAsNonRoot).toBe(true);
      expect(context.allowPrivilegeEscalation).toBe(false);
      expect(context.privileged).toBe(false);
      expect(context.readOnlyRootFilesystem).toBe(true);
      expect(context.capabilities).toEqual({ drop: ['ALL'] });
      expect(context.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    }
    const account = only('ServiceAccount', pod.serviceAccountName);
    expect(account.automountServiceAccountToken).toBe(false);
    expect(only('Namespace', 'hms').metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('sets requests and limits, and writes only to a size-limited /tmp', () => {
    for (const container of pod.containers) {
      for (const kind of ['requests', 'limits']) {
        expect(container.resources[kind].cpu).toBeTruthy();
        expect(container.resources[kind].memory).toBeTruthy();
      }
    }
    const tmp = pod.volumes.find((v: Json) => v.name === 'tmp');
    expect(tmp.emptyDir.sizeLimit).toBeTruthy();
    expect(api.volumeMounts.find((m: Json) => m.name === 'tmp').mountPath).toBe('/tmp');
  });

  it('checks readiness on /readyz and liveness on /healthz, on the API port', () => {
    expect(api.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(api.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(api.ports).toEqual([{ name: 'http', containerPort: 4000, protocol: 'TCP' }]);
  });

  it('exposes the API as a ClusterIP Service only', () => {
    const service = only('Service', 'hms-api');
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.selector).toEqual(apiLabels);
    expect(service.spec.ports.map((p: Json) => p.targetPort)).toEqual(['http']);
    expect(all('Ingress')).toEqual([]);
    for (const m of all('Service')) expect(['ClusterIP', undefined]).toContain(m.spec.type);
  });

  it('scales with an autoscaler from three replicas and keeps all but one through disruptions', () => {
    const hpa = only('HorizontalPodAutoscaler', 'hms-api');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'hms-api' });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(3);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    expect(deployment.spec.replicas).toBeUndefined();
    const pdb = only('PodDisruptionBudget', 'hms-api');
    expect(pdb.spec.selector.matchLabels).toEqual(apiLabels);
    expect(pdb.spec.maxUnavailable).toBe(1);
  });

  describe('NetworkPolicy', () => {
    const policies = all('NetworkPolicy');
    const apiPolicy = only('NetworkPolicy', 'hms-api');

    it('denies everything in the namespace by default', () => {
      const deny = policies.find((p) => p.metadata.name === 'default-deny-all') as Manifest;
      expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    });

    it('admits only the ingress gateway, on the API port', () => {
      expect(apiPolicy.spec.podSelector.matchLabels).toEqual(apiLabels);
      expect(apiPolicy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(apiPolicy.spec.ingress).toEqual([
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-ingress' } },
              podSelector: { matchLabels: { istio: 'ingressgateway' } },
            },
          ],
          ports: [{ protocol: 'TCP', port: 4000 }],
        },
      ]);
      // No other policy selects the API (policies add up: one more could open it).
      for (const p of policies.filter((p) => p !== apiPolicy)) expect(p.spec.podSelector).toEqual({});
    });

    it('lets the API reach only PostgreSQL 5432, Redis 6379, the SIEM, DNS and istiod', () => {
      const rules = apiPolicy.spec.egress as Json[];
      const describe = (rule: Json): string => {
        const peer = rule.to[0];
        const target = peer.ipBlock
          ? `ip:${peer.ipBlock.cidr}`
          : `${peer.namespaceSelector.matchLabels['kubernetes.io/metadata.name']}/${Object.values(peer.podSelector.matchLabels)[0]}`;
        return `${target} ${rule.ports.map((p: Json) => `${p.protocol}/${p.port}`).join(',')}`;
      };
      for (const rule of rules) {
        // Every rule names both its peer and its ports: a rule without either would allow everything.
        expect(rule.to).toHaveLength(1);
        expect(rule.ports.length).toBeGreaterThan(0);
        if (rule.to[0].ipBlock) expect(rule.to[0].ipBlock.cidr).toMatch(/\/32$/);
      }
      expect(rules.map(describe).sort()).toEqual([
        'hms-data/postgresql TCP/5432',
        'hms-data/redis TCP/6379',
        'ip:192.0.2.10/32 TCP/443,TCP/6514',
        'istio-system/istiod TCP/15012',
        'kube-system/kube-dns UDP/53,TCP/53',
      ]);
    });
  });

  describe('Istio', () => {
    it('requires mutual TLS (STRICT) for the namespace and for the API', () => {
      const peer = all('PeerAuthentication');
      expect(peer.map((p) => p.spec.mtls.mode)).toEqual(['STRICT', 'STRICT']);
      expect(peer.find((p) => !p.spec.selector)?.metadata.name).toBe('default');
      expect(peer.find((p) => p.spec.selector)?.spec.selector.matchLabels).toEqual(apiLabels);
      for (const p of peer) expect(p.spec.portLevelMtls).toBeUndefined();
      expect(only('Namespace', 'hms').metadata.labels?.['istio-injection']).toBe('enabled');
    });

    it('authorizes only the ingress gateway identity, to /graphql, and nothing else by default', () => {
      const policies = all('AuthorizationPolicy');
      expect(policies.find((p) => p.metadata.name === 'allow-nothing')?.spec).toEqual({});
      const allow = only('AuthorizationPolicy', 'hms-api');
      expect(allow.spec.action).toBe('ALLOW');
      expect(allow.spec.selector.matchLabels).toEqual(apiLabels);
      expect(allow.spec.rules).toEqual([
        {
          from: [{ source: { principals: ['cluster.local/ns/istio-ingress/sa/istio-ingressgateway'] } }],
          to: [{ operation: { ports: ['4000'], methods: ['GET', 'POST'], paths: ['/graphql'] } }],
        },
      ]);
      expect(policies.filter((p) => p.spec.action === 'DENY' || p.spec.action === 'CUSTOM')).toEqual([]);
    });
  });
});
