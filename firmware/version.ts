/** spinet's version; test/package.test.ts holds it equal to package.json. */
export const VERSION = '0.1.0'
