export function SettingsPage() {
  return <p>Coming soon</p>;
}
