import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import path from 'node:path';
import { runInNewContext } from 'node:vm';
import express from 'express';
import { GRAPHIQL_CSP, graphiqlMiddleware } from '../../src/http/graphiql';

// What Chromium sends when the address bar navigates to the endpoint.
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
const CDN_HOSTS = ['unpkg.com', 'cdn.jsdelivr.net', 'esm.sh', 'cdnjs.cloudflare.com', 'fonts.googleapis.com'];

let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  app.use(graphiqlMiddleware({ endpoint: '/graphql' }));
  // Stand-ins for the GraphQL server behind the page: they say who answered and echo what they received.
  app.get('/graphql', (req, res) => {
    res.json({ handledBy: 'graphql', query: req.query });
  });
  app.post('/graphql', express.json(), (req, res) => {
    res.json({ data: { body: req.body, headers: req.headers } });
  });
  server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(base + url, { headers });
}

async function page(): Promise<{ res: Response; html: string }> {
  const res = await get('/graphql', { accept: BROWSER_ACCEPT });
  return { res, html: await res.text() };
}

function attributeValues(html: string, tag: string, attribute: string): string[] {
  const pattern = new RegExp(`<${tag}\\b[^>]*\\s${attribute}="([^"]*)"`, 'gi');
  return [...html.matchAll(pattern)].map((match) => match[1]);
}

function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((tokens) => tokens[0] !== '')
      .map(([name, ...sources]): [string, string[]] => [name, sources]),
  );
}

async function pageAssets(): Promise<Array<{ url: string; kind: 'script' | 'style'; res: Response; body: string }>> {
  const { html } = await page();
  const refs = [
    ...attributeValues(html, 'script', 'src').map((url) => ({ url, kind: 'script' as const })),
    ...attributeValues(html, 'link', 'href')
      .filter((url) => !url.startsWith('data:'))
      .map((url) => ({ url, kind: 'style' as const })),
  ];
  return Promise.all(
    refs.map(async (ref) => {
      const res = await get(ref.url);
      return { ...ref, res, body: await res.text() };
    }),
  );
}

describe('GET endpoint', () => {
  it('serves the page to a browser navigation', async () => {
    const { res, html } = await page();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe(GRAPHIQL_CSP);
    expect(res.headers.get('vary')).toMatch(/\bAccept\b/i);
    expect(html).toMatch(/<div id="graphiql" data-endpoint="\/graphql">/);
  });

  it.each([
    ['Accept: application/json', '/graphql', { accept: 'application/json' }],
    ['Accept: */*', '/graphql', { accept: '*/*' }],
    ['no Accept', '/graphql', {}],
    ['a GraphQL GET from a browser (?query=)', '/graphql?query=%7B__typename%7D', { accept: BROWSER_ACCEPT }],
    ['a persisted-query GET (?extensions=)', '/graphql?extensions=%7B%7D', { accept: BROWSER_ACCEPT }],
  ])('falls through to the GraphQL server for %s', async (_label, url, headers: Record<string, string>) => {
    const res = await get(url, headers);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBeNull();
    expect(await res.json()).toMatchObject({ handledBy: 'graphql' });
  });

  it('leaves POST to the GraphQL server', async () => {
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: BROWSER_ACCEPT },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(await res.json()).toMatchObject({ data: { body: { query: '{ __typename }' } } });
  });
});

describe('HTML', () => {
  it('contains no absolute or protocol-relative URL', async () => {
    const { html } = await page();
    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/\/\//);
  });

  it('references only same-origin files under the assets path, with no inline script, style or handler', async () => {
    const { html } = await page();
    const scripts = attributeValues(html, 'script', 'src');
    const links = attributeValues(html, 'link', 'href');
    expect(scripts).toHaveLength(4);
    for (const url of [...scripts, ...links.filter((href) => href !== 'data:,')]) {
      expect(url).toMatch(/^\/graphiql-assets\/[\w.-]+\.(js|css)$/);
    }
    expect(html.match(/<script\b/gi)).toHaveLength(4);
    expect(html.match(/<script src="[^"]+"><\/script>/g)).toHaveLength(4);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    // The init script comes last, after the globals it uses (React, ReactDOM, GraphiQL) are defined.
    expect(scripts.map((url) => path.basename(url))).toEqual([
      expect.stringMatching(/^react-\d+\.\d+\.\d+\.production\.min\.js$/),
      expect.stringMatching(/^react-dom-\d+\.\d+\.\d+\.production\.min\.js$/),
      expect.stringMatching(/^graphiql-\d+\.\d+\.\d+\.min\.js$/),
      'graphiql-init.js',
    ]);
  });
});

describe('CSP', () => {
  it('allows scripts from self only, never inline or eval', () => {
    const csp = directives(GRAPHIQL_CSP);
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(GRAPHIQL_CSP).not.toContain("'unsafe-eval'");
    expect(GRAPHIQL_CSP).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    expect(csp.has('script-src-elem') || csp.has('script-src-attr') || csp.has('worker-src')).toBe(false);
    expect(csp.get('style-src')).toContain("'self'");
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('img-src')).toEqual(["'self'", 'data:']);
    expect(csp.get('font-src')).toEqual(["'self'", 'data:']);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    expect(csp.get('form-action')).toEqual(["'none'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
  });
});

describe('assets', () => {
  it('serves every referenced script and stylesheet with its content type, nosniff and cache policy', async () => {
    const assets = await pageAssets();
    const kinds = assets.map((asset) => asset.kind).sort();
    expect(kinds).toEqual(['script', 'script', 'script', 'script', 'style', 'style']);
    for (const { url, kind, res, body } of assets) {
      expect({ url, status: res.status }).toEqual({ url, status: 200 });
      expect(res.headers.get('content-type')).toBe(
        kind === 'script' ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
      );
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(body.length).toBeGreaterThan(0);
      const versioned = /-\d+\.\d+\.\d+\./.test(url);
      expect({ url, cache: res.headers.get('cache-control') }).toEqual({
        url,
        cache: versioned ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
    }
  });

  it('answers a revalidation with 304', async () => {
    const { html } = await page();
    const [url] = attributeValues(html, 'script', 'src');
    const etag = (await get(url)).headers.get('etag');
    expect(etag).toBeTruthy();
    // A browser reload sends max-age=0; without an explicit Cache-Control, fetch would add no-cache (Fetch spec).
    const revalidation = await get(url, { 'if-none-match': etag as string, 'cache-control': 'max-age=0' });
    expect(revalidation.status).toBe(304);
  });

  it('serves nothing else under the assets path', async () => {
    expect((await get('/graphiql-assets/graphiql.min.js.map')).status).toBe(404);
    expect((await get('/graphiql-assets/%2e%2e/package.json')).status).toBe(404);
  });

  it('loads nothing from a CDN at runtime', async () => {
    const assets = await pageAssets();
    for (const { url, kind, body } of assets) {
      const hosts = CDN_HOSTS.filter((host) => body.includes(host));
      expect({ url, hosts }).toEqual({ url, hosts: [] });
      if (kind === 'style') {
        expect(body).not.toMatch(/@import/i);
        // Fonts and icons are inlined as data: URIs (hence img-src / font-src data:).
        const urls = [...body.matchAll(/url\(\s*['"]?([^'")]*)/gi)].map((match) => match[1]);
        expect(urls.filter((value) => !value.startsWith('data:'))).toEqual([]);
        continue;
      }
      // Nothing that fetches code or starts a worker: no dynamic import of a URL, no injected <script>/<link>/<iframe>.
      expect(body).not.toMatch(/\bimport\s*\(\s*['"`](?:https?:)?\/\//);
      expect(body).not.toMatch(/\bimportScripts\s*\(|\bnew\s+(?:Shared)?Worker\s*\(/);
      expect(body).not.toMatch(/createElement\(\s*['"](?:script|link|iframe)['"]/);
      expect(body).not.toMatch(/sourceMappingURL=(?:https?:)?\/\//);
    }
    // The only CDN names in the GraphiQL bundle are prose in the error thrown when React <= 15 is found.
    const bundle = assets.find((asset) => /\/graphiql-[\d.]+\.min\.js$/.test(asset.url));
    const mentions = (bundle?.body ?? '').split('\n').filter((line) => /unpkg|jsdelivr|esm\.sh|cdnjs/i.test(line));
    expect(mentions).toHaveLength(1);
    expect(mentions[0]).toContain('is not compatible with React 15 or below');
  });

  it('ships a GraphiQL UMD bundle exposing the globals the init script uses', async () => {
    const assets = await pageAssets();
    const bundle = assets.find((asset) => /\/graphiql-[\d.]+\.min\.js$/.test(asset.url))?.body ?? '';
    expect(bundle).toContain('window.GraphiQL = __webpack_exports__["default"]');
    expect(bundle).toMatch(/GraphiQL\.createFetcher = _toolkit\.createGraphiQLFetcher;/);
    expect(bundle).toContain('module.exports = window["React"]');
    expect(bundle).toContain('module.exports = window["ReactDOM"]');
  });
});

describe('init script', () => {
  interface Captured {
    fetcherOptions?: { url: string; fetch: (input: string, init: RequestInit) => Promise<Response> };
    props?: Record<string, unknown>;
    container?: unknown;
    fetchInit?: RequestInit;
  }

  // Runs the served init script against stand-ins for the DOM and the React/GraphiQL globals. The fetcher factory is
  // the real @graphiql/toolkit createGraphiQLFetcher, the code GraphiQL.createFetcher points to in the bundle.
  async function runInitScript(): Promise<{ captured: Captured; fetcher: (params: object, opts?: object) => unknown }> {
    const { html } = await page();
    const initUrl = attributeValues(html, 'script', 'src').find((url) => url.endsWith('/graphiql-init.js')) as string;
    const source = await (await get(initUrl)).text();
    const graphiqlDir = path.dirname(require.resolve('graphiql/package.json'));
    const graphiqlReactDir = path.dirname(require.resolve('@graphiql/react/package.json', { paths: [graphiqlDir] }));
    // The toolkit's CommonJS build, resolved from graphiql's own dependency tree (the page bundles that copy).
    // eslint-disable-next-line @typescript-eslint/no-require-imports, security/detect-non-literal-require
    const toolkit = require(require.resolve('@graphiql/toolkit', { paths: [graphiqlReactDir] })) as {
      createGraphiQLFetcher: (options: object) => (params: object, opts?: object) => unknown;
    };
    const captured: Captured = {};
    let fetcher: ((params: object, opts?: object) => unknown) | undefined;
    const root = { getAttribute: (name: string) => (name === 'data-endpoint' ? '/graphql' : null) };
    const GraphiQL = Object.assign(function GraphiQL() {}, {
      createFetcher: (options: Captured['fetcherOptions'] & object) => {
        captured.fetcherOptions = options;
        fetcher = toolkit.createGraphiQLFetcher(options);
        return fetcher;
      },
    });
    const window = {
      fetch: (input: string, init: RequestInit) => {
        captured.fetchInit = init;
        return fetch(base + input, init);
      },
    };
    runInNewContext(source, {
      window,
      document: { getElementById: (id: string) => (id === 'graphiql' ? root : null) },
      GraphiQL,
      React: {
        createElement: (type: unknown, props: Record<string, unknown>) => {
          expect(type).toBe(GraphiQL);
          captured.props = props;
          return { type, props };
        },
      },
      ReactDOM: {
        createRoot: (container: unknown) => {
          captured.container = container;
          return { render: () => undefined };
        },
      },
    });
    expect(fetcher).toBeDefined();
    return { captured, fetcher: fetcher as (params: object, opts?: object) => unknown };
  }

  it('renders GraphiQL into the root element with the headers editor enabled', async () => {
    const { captured } = await runInitScript();
    expect(captured.fetcherOptions?.url).toBe('/graphql');
    expect(captured.props).toMatchObject({ isHeadersEditorEnabled: true, shouldPersistHeaders: false });
    expect(captured.props?.fetcher).toEqual(expect.any(Function));
    // Queries and history may hold patient data: GraphiQL's storage is memory of this tab, not localStorage.
    const storage = captured.props?.storage as {
      setItem(k: string, v: string): void;
      getItem(k: string): string | null;
      clear(): void;
      length: number;
    };
    storage.setItem('graphiql:query', '{ patient(id: "x") { ssn } }');
    expect(storage.getItem('graphiql:query')).toContain('patient');
    expect(storage.length).toBe(1);
    storage.clear();
    expect(storage.getItem('graphiql:query')).toBeNull();
    expect(captured.container).toBeDefined();
  });

  it('POSTs JSON same-origin with the headers typed in the headers editor', async () => {
    const { captured, fetcher } = await runInitScript();
    const result = (await fetcher(
      { query: '{ __typename }', operationName: 'IntrospectionQuery' },
      { headers: { Authorization: 'Bearer admin-token' } },
    )) as { data: { body: unknown; headers: Record<string, string> } };
    expect(captured.fetchInit).toMatchObject({ method: 'POST', credentials: 'same-origin' });
    expect(result.data.body).toEqual({ query: '{ __typename }', operationName: 'IntrospectionQuery' });
    expect(result.data.headers['content-type']).toBe('application/json');
    expect(result.data.headers.authorization).toBe('Bearer admin-token');
  });
});

describe('options', () => {
  it.each(['graphql', '//evil.example/graphql', '/graph"ql', '/graphql/:id', ''])(
    'rejects the endpoint %j',
    (endpoint) => {
      expect(() => graphiqlMiddleware({ endpoint })).toThrow(/plain absolute path/);
    },
  );

  it('serves the assets under a custom assets path', async () => {
    const app = express();
    app.use(graphiqlMiddleware({ endpoint: '/api/graphql', assetsPath: '/static/gql' }));
    const custom = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    try {
      const origin = `http://127.0.0.1:${(custom.address() as AddressInfo).port}`;
      const html = await (await fetch(`${origin}/api/graphql`, { headers: { accept: BROWSER_ACCEPT } })).text();
      expect(html).toContain('data-endpoint="/api/graphql"');
      const scripts = attributeValues(html, 'script', 'src');
      expect(scripts.every((url) => url.startsWith('/static/gql/'))).toBe(true);
      for (const url of scripts) expect((await fetch(origin + url)).status).toBe(200);
    } finally {
      await new Promise<void>((resolve) => custom.close(() => resolve()));
    }
  });
});
