import { preparedRead } from '../../src/db/prepared';
import { createAccount } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/app';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});

afterAll(async () => {
  await app?.close();
});

describe('preparedRead', () => {
  it('runs the read as a named prepared statement on a pooled connection', async () => {
    const rows = await preparedRead<{ name: string; statement: string }>(
      app.services.orm.em.fork(),
      'SELECT name, statement FROM pg_prepared_statements WHERE statement LIKE ?',
      ['%pg_prepared_statements WHERE statement LIKE $1%'],
    );

    expect(rows).toHaveLength(1);
    expect(rows[0].name).toMatch(/^hms_[0-9a-f]{24}$/);
  });

  it('answers what em.execute answers, value for value (dates and arrays as the ORM parses them)', async () => {
    const { user } = await createAccount(app, 'NURSE');
    const sql = `SELECT id, role, created_at, password_changed_at, scopes, failed_login_count FROM users WHERE id = ?`;

    const prepared = await preparedRead(app.services.orm.em.fork(), sql, [user.id]);
    const executed = await app.services.orm.em.fork().execute(sql, [user.id]);

    expect(prepared).toEqual(executed);
    expect(prepared).toHaveLength(1);
  });

  it("reads inside a transaction on the transaction's own connection, seeing its uncommitted rows", async () => {
    const seen = await app.services.orm.em.fork().transactional(async (em) => {
      await em.execute(`UPDATE users SET display_name = 'Within the transaction' WHERE role = 'NURSE'`);
      return preparedRead<{ display_name: string }>(em, 'SELECT display_name FROM users WHERE role = ?', ['NURSE']);
    });

    expect(seen.map((r) => r.display_name)).toContain('Within the transaction');
  });

  it('refuses an array parameter, which em.execute would have expanded into a list', async () => {
    await expect(
      preparedRead(app.services.orm.em.fork(), 'SELECT id FROM users WHERE id IN (?)', [['a', 'b']]),
    ).rejects.toThrow('scalar parameters only');
  });
});
