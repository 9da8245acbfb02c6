import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

import type { Logger } from '../logging/logger';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

declare module 'express-serve-static-core' {
  interface Request {
    id: string;
    log: Logger;
  }
}

/**
 * Gives each request an id (a caller's `X-Request-Id` is kept when it is a plain token), echoes
 * it, attaches a child logger, and logs one line when the response ends: method, path without
 * its query string, status and duration. Never bodies, queries or headers.
 */
export function requestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.headers['x-request-id'];
    req.id = typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    req.log = logger.child({ requestId: req.id });
    res.setHeader('X-Request-Id', req.id);
    const started = process.hrtime.bigint();
    // Read now: by 'finish', a router mounted at a prefix (app.use('/graphql', ...)) has cut req.path to '/'.
    const path = req.path;
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      req.log.info({ method: req.method, path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  };
}
