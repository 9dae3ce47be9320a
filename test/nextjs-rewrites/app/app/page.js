export default function Page() {
  return <p>rewrites test</p>
}
