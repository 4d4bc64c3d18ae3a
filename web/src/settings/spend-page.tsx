export function SpendPage() {
  return <p>Coming soon</p>;
}
