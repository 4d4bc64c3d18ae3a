import { type Kysely, sql } from 'kysely';

// Images in chat messages (issue 16): a user message's `parts` may hold image parts
// `{type: "image", sha256, mediaType, bytes, width, height, name, alt}` whose bytes are in the
// content-addressed image store (docs/chat.md "Images"). The database holds the shape: parts
// are an array; every image part has a sha256 of 64 lowercase hex digits, a media type models
// take as it is (no SVG), and positive whole-number bytes, width and height; only user
// messages carry images. Counted as "image parts" = "well-formed image parts" (a missing
// field makes a jsonpath filter unknown, never true, so a negated filter would let it pass).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table chat_message add constraint chat_message_image_parts_check check (
      jsonb_typeof(parts) = 'array'
      and jsonb_array_length(jsonb_path_query_array(parts, '$[*] ? (@.type == "image")'))
        = jsonb_array_length(jsonb_path_query_array(parts, '$[*] ? (@.type == "image"
            && @.sha256 like_regex "^[0-9a-f]{64}$"
            && @.mediaType like_regex "^image/(png|jpeg|gif|webp)$"
            && @.bytes.type() == "number" && @.bytes > 0 && @.bytes == @.bytes.floor()
            && @.width.type() == "number" && @.width > 0 && @.width == @.width.floor()
            && @.height.type() == "number" && @.height > 0 && @.height == @.height.floor())'))
      and (role = 'user'
        or jsonb_array_length(jsonb_path_query_array(parts, '$[*] ? (@.type == "image")')) = 0)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table chat_message drop constraint chat_message_image_parts_check`.execute(db);
}
