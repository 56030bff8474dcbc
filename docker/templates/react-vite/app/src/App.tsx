export default function App() {
  return (
    <main className="min-h-screen flex items-center justify-center bg-slate-50">
      <h1 className="text-2xl font-semibold text-slate-800">Your app will appear here</h1>
    </main>
  );
}
