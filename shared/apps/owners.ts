/** The owner of the first token; its tokens may act on every owner's apps and make tokens for other owners. */
export const ADMIN_OWNER = 'admin';
