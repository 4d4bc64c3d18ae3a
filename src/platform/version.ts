/** The version the server reports (OpenAPI, `braincells --version`). Its own module so the CLI
 * can print it without importing the app and everything behind it. */
export const APP_VERSION = '0.1.0';
