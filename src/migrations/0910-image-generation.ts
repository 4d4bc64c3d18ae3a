import { type Kysely, sql } from 'kysely';

// Image generation columns (issue 18): an AI column of output type `image` calls an image
// model; its size (`WIDTHxHEIGHT`, null: the provider's default) is part of the process.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table generation_process drop constraint generation_process_output_type_check`.execute(
    db,
  );
  await sql`
    alter table generation_process add constraint generation_process_output_type_check
      check (output_type in ('text', 'number', 'boolean', 'category', 'json', 'image'))`.execute(
    db,
  );
  await sql`
    alter table generation_process add column image_size text
      check (image_size is null or (image_size ~ '^[0-9]{2,5}x[0-9]{2,5}$' and output_type = 'image'))`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`delete from generation_process where output_type = 'image'`.execute(db);
  await sql`alter table generation_process drop column image_size`.execute(db);
  await sql`alter table generation_process drop constraint generation_process_output_type_check`.execute(
    db,
  );
  await sql`
    alter table generation_process add constraint generation_process_output_type_check
      check (output_type in ('text', 'number', 'boolean', 'category', 'json'))`.execute(db);
}
