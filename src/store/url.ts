/** Store URLs shared by the manager's and the agent's stores: which database, and how to show one safely. */
import { StoreError } from './errors.ts';

export type StoreTarget = { dialect: 'sqlite'; file: string } | { dialect: 'postgres' };

/**
 * `sqlite:<file>` (also `sqlite:///abs/path`, `sqlite::memory:`) or `postgres://…` / `postgresql://…`.
 * @param what names the store in errors ("the SLA store URL is empty").
 * @throws StoreError CM_ERR_STORE_OPEN
 */
export function parseStoreUrl(url: string, what: string): StoreTarget {
  if (typeof url !== 'string' || url === '') throw new StoreError('CM_ERR_STORE_OPEN', `the ${what} URL is empty`);
  if (url.startsWith('sqlite:')) {
    let file = url.slice('sqlite:'.length);
    // sqlite:///abs/path.db is the URL-shaped spelling of sqlite:/abs/path.db.
    if (file.startsWith('//')) file = file.slice(2);
    if (file === '') throw new StoreError('CM_ERR_STORE_OPEN', `no file in the store URL ${JSON.stringify(url)}`);
    return { dialect: 'sqlite', file };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { dialect: 'postgres' };
  throw new StoreError(
    'CM_ERR_STORE_OPEN',
    `unsupported store URL ${JSON.stringify(redactUrl(url))}: use sqlite:<file>, sqlite::memory: or postgres://…`,
  );
}

/** The URL without its password (in the authority or as libpq's `password=` parameter), for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@]*@/i, '$1***@').replace(/([?&]password=)[^&]*/gi, '$1***');
}
