import { buildWebIfStale } from '../../scripts/build-web.ts';

/** Builds the web app once per run when its sources are newer than dist/web. */
export default async function setup() {
  await buildWebIfStale({ quiet: true });
}
