import type { Actor } from '../../access/actor.ts';
import { generationEnvPerSuite, sheetsOf } from '../generation/generation-test-helpers.ts';
import type { ImageReference } from './image-reference.ts';
import { storedImage } from './image-test-fixtures.ts';

/**
 * The generation env of an image test file (generationEnvPerSuite: opened before its tests,
 * closed after them), the services those tests call, and a builder of datasets of stored images.
 */
export function imageGenerationEnvPerSuite() {
  const env = generationEnvPerSuite();
  const owner = (): Actor => env.members.owner.actor;
  const images = () => env.t.app.features.images.images;

  /** `bytes` stored as an image of `projectId` (the env's project unless given). */
  function storeImage(
    name: string,
    bytes: Buffer,
    projectId = env.projectId,
  ): Promise<ImageReference> {
    return storedImage(env.t, projectId, name, bytes);
  }

  /** A dataset with an image column `Photo` holding these references, one row each. */
  async function imageDataset(name: string, references: ImageReference[]) {
    const sheets = sheetsOf(env.t);
    const dataset = await sheets.createDataset(owner(), env.projectId, {
      name,
      columns: [{ name: 'Photo', type: 'image' }],
    });
    const photo = dataset.columns[0]!.id;
    await sheets.appendRows(
      owner(),
      env.projectId,
      dataset.id,
      references.map((reference) => ({ [photo]: reference as never })),
    );
    return { id: dataset.id, photo };
  }

  return {
    env,
    owner,
    images,
    aiColumns: () => env.t.app.generation.aiColumns,
    runs: () => env.t.app.generation.runs,
    storeImage,
    imageDataset,
  };
}
