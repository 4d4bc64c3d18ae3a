import { ApiError, describeError } from '../api/api-error.ts';

/** An inline error under a form: the message and, for validation errors, each field. */
export function FormError({ error }: { error: unknown }) {
  if (!error) return null;
  const fields = error instanceof ApiError ? error.fieldErrors : [];
  return (
    <div role="alert" className="form-error">
      <p>{describeError(error)}</p>
      {fields.length > 1 && (
        <ul>
          {fields.map((field) => (
            <li key={`${field.path}:${field.message}`}>
              {field.path}: {field.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
