import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';

/**
 * Content-Security-Policy of the GraphiQL page: scripts only from our origin, never inline nor eval'd.
 * Each source is justified below; the values were checked against the installed GraphiQL 3.8.3 UMD bundle.
 */
export const GRAPHIQL_CSP = [
  // Everything not listed (frames, objects, media, manifests) is refused.
  "default-src 'none'",
  // React, ReactDOM, GraphiQL and the init script are same-origin files. No 'unsafe-eval': the bundle's only
  // `new Function` is webpack's global-object fallback, unreachable in browsers that have `globalThis`. No
  // worker-src either: the bundle starts no worker (it would fall back to this directive anyway).
  "script-src 'self'",
  // 'unsafe-inline' for styles only. Opening a GraphiQL dialog (settings, shortcuts) makes Radix's
  // react-remove-scroll-bar append a <style> element computed at runtime (scrollbar width), so no hash fits, and its
  // nonce hook (__webpack_nonce__) is sealed inside the bundle; CodeMirror's search / jump-to-line panels use style
  // attributes. With 'self' alone those are blocked (cosmetic only) but each logs a CSP violation.
  "style-src 'self' 'unsafe-inline'",
  // graphiql.min.css embeds its PNG icons and its Roboto / Fira Code fonts as data: URIs.
  "img-src 'self' data:",
  "font-src 'self' data:",
  // The fetcher POSTs to the same-origin endpoint; no subscription URL is configured, so no WebSocket either.
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Options of {@link graphiqlMiddleware}: the GraphQL endpoint path and the path prefix the assets are served under. */
export interface GraphiqlOptions {
  endpoint: string;
  assetsPath?: string;
}

/** Default path prefix of the page's scripts and stylesheets. */
export const GRAPHIQL_DEFAULT_ASSETS_PATH = '/graphiql-assets/';

interface Asset {
  body: Buffer;
  contentType: string;
  cacheControl: string;
  etag: string;
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const HTML = 'text/html; charset=utf-8';
// Vendor file names carry the package version, so a new version is a new URL and the old one never changes.
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';
// A path made of unreserved characters only: safe in an HTML attribute, a route and a fetch URL; `//` is refused
// because a protocol-relative `//host/...` would send the fetcher (and the admin's token) to another host.
const SAFE_PATH = /^(?!.*\/\/)\/[A-Za-z0-9._~/-]*$/;

// Browser-side bootstrap, served as a same-origin file because the CSP forbids inline scripts. It is kept here
// rather than in a .js file because the TypeScript build does not copy non-TS files into dist/.
const INIT_SCRIPT = `(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint');
  // createFetcher POSTs JSON (content-type: application/json, which also passes Apollo's CSRF prevention) and
  // merges the headers typed in the headers editor, e.g. {"Authorization": "Bearer ..."}.
  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    fetch: function (input, init) {
      return window.fetch(input, Object.assign({}, init, { credentials: 'same-origin' }));
    },
  });
  var memory = new Map();
  var memoryStorage = {
    getItem: function (key) { return memory.has(key) ? memory.get(key) : null; },
    setItem: function (key, value) { memory.set(key, String(value)); },
    removeItem: function (key) { memory.delete(key); },
    clear: function () { memory.clear(); },
    get length() { return memory.size; },
  };
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      // Queries, variables and history can hold patient data, and admin workstations are shared:
      // keep GraphiQL's state in this tab's memory only, never in localStorage.
      storage: memoryStorage,
      isHeadersEditorEnabled: true,
      // Never write pasted tokens to localStorage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: true,
    }),
  );
})();
`;

const PAGE_CSS = `html, body { height: 100%; margin: 0; }
#graphiql { height: 100vh; }
`;

function packageDir(name: string): string {
  return path.dirname(require.resolve(`${name}/package.json`));
}

function packageVersion(name: string): string {
  const { version } = JSON.parse(readFileSync(path.join(packageDir(name), 'package.json'), 'utf8')) as {
    version: string;
  };
  return version;
}

function asset(body: Buffer | string, contentType: string, cacheControl: string): Asset {
  const buffer = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const etag = `"${createHash('sha256').update(buffer).digest('base64url').slice(0, 27)}"`;
  return { body: buffer, contentType, cacheControl, etag };
}

function vendorAsset(file: string, contentType: string): Asset {
  try {
    return asset(readFileSync(file), contentType, IMMUTABLE);
  } catch (error) {
    throw new Error(`GraphiQL asset missing: ${file}; are graphiql, react and react-dom installed?`, { cause: error });
  }
}

// Resolved and read once at module load, so a missing package fails at startup rather than on first request.
// React's package.json `exports` hides umd/, hence the path built from the package directory.
const REACT_VERSION = packageVersion('react');
const REACT_DOM_VERSION = packageVersion('react-dom');
const GRAPHIQL_VERSION = packageVersion('graphiql');

const VENDOR_SCRIPTS: ReadonlyArray<[string, Asset]> = [
  [
    `react-${REACT_VERSION}.production.min.js`,
    vendorAsset(path.join(packageDir('react'), 'umd', 'react.production.min.js'), JS),
  ],
  [
    `react-dom-${REACT_DOM_VERSION}.production.min.js`,
    vendorAsset(path.join(packageDir('react-dom'), 'umd', 'react-dom.production.min.js'), JS),
  ],
  [`graphiql-${GRAPHIQL_VERSION}.min.js`, vendorAsset(require.resolve('graphiql/graphiql.min.js'), JS)],
];
const GRAPHIQL_STYLESHEET: [string, Asset] = [
  `graphiql-${GRAPHIQL_VERSION}.min.css`,
  vendorAsset(require.resolve('graphiql/graphiql.min.css'), CSS),
];
const PAGE_STYLESHEET: [string, Asset] = ['graphiql-page.css', asset(PAGE_CSS, CSS, REVALIDATE)];
const INIT: [string, Asset] = ['graphiql-init.js', asset(INIT_SCRIPT, JS, REVALIDATE)];

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function renderPage(endpoint: string, assetsPath: string): string {
  const href = (name: string): string => escapeAttribute(assetsPath + name);
  const scripts = [...VENDOR_SCRIPTS, INIT].map(([name]) => `    <script src="${href(name)}"></script>`);
  return [
    '<!doctype html>',
    '<html lang="en">',
    '  <head>',
    '    <meta charset="utf-8">',
    '    <meta name="viewport" content="width=device-width, initial-scale=1">',
    '    <title>GraphiQL</title>',
    // An empty icon, so the browser does not request /favicon.ico.
    '    <link rel="icon" href="data:,">',
    `    <link rel="stylesheet" href="${href(GRAPHIQL_STYLESHEET[0])}">`,
    `    <link rel="stylesheet" href="${href(PAGE_STYLESHEET[0])}">`,
    '  </head>',
    '  <body>',
    `    <div id="graphiql" data-endpoint="${escapeAttribute(endpoint)}">Loading GraphiQL…</div>`,
    '    <noscript>GraphiQL needs JavaScript.</noscript>',
    ...scripts,
    '  </body>',
    '</html>',
    '',
  ].join('\n');
}

function send(res: Response, item: Asset): void {
  res.set({
    'Content-Type': item.contentType,
    'Cache-Control': item.cacheControl,
    'X-Content-Type-Options': 'nosniff',
    ETag: item.etag,
  });
  // With ETag preset, express answers 304 to a matching If-None-Match instead of hashing the body again.
  res.send(item.body);
}

function isGraphqlGet(req: Request): boolean {
  const queryStart = req.originalUrl.indexOf('?');
  if (queryStart < 0) return false;
  const params = new URLSearchParams(req.originalUrl.slice(queryStart + 1));
  // `extensions` alone is an automatic persisted query sent by GET.
  return params.has('query') || params.has('extensions');
}

// Like Apollo's landing page: HTML only when the client ranks it above every GraphQL response type, so a missing
// Accept or `*/*` (curl, most GraphQL clients) stays GraphQL. Ties go to the first type listed.
const NEGOTIATED_TYPES = ['application/json', 'application/graphql-response+json', 'multipart/mixed', 'text/html'];

function prefersHtml(req: Request): boolean {
  return req.accepts(NEGOTIATED_TYPES) === 'text/html';
}

/**
 * Express router serving an offline GraphiQL page at `GET endpoint` (browser navigations only) and its assets under
 * `assetsPath`; mount it at the application root, before the GraphQL server. Every other request goes to next().
 */
export function graphiqlMiddleware(opts: GraphiqlOptions): Router {
  const { endpoint } = opts;
  let assetsPath = opts.assetsPath ?? GRAPHIQL_DEFAULT_ASSETS_PATH;
  if (!assetsPath.endsWith('/')) assetsPath += '/';
  for (const [name, value] of [
    ['endpoint', endpoint],
    ['assetsPath', assetsPath],
  ]) {
    if (!SAFE_PATH.test(value)) throw new Error(`graphiqlMiddleware: ${name} must be a plain absolute path: ${value}`);
  }

  const page = asset(renderPage(endpoint, assetsPath), HTML, REVALIDATE);
  const router = express.Router();

  router.get(endpoint, (req: Request, res: Response, next: NextFunction) => {
    if (isGraphqlGet(req) || !prefersHtml(req)) {
      next();
      return;
    }
    res.set('Content-Security-Policy', GRAPHIQL_CSP);
    // The same URL answers JSON or HTML depending on Accept.
    res.vary('Accept');
    send(res, page);
  });

  for (const [name, item] of [...VENDOR_SCRIPTS, GRAPHIQL_STYLESHEET, PAGE_STYLESHEET, INIT]) {
    router.get(assetsPath + name, (_req: Request, res: Response) => send(res, item));
  }
  return router;
}
