import { request } from 'node:http';

/** A todo app (add, toggle, delete) replacing the template's App.tsx. `title` marks which version runs. */
export function todoApp(title = 'Todos'): string {
  return `import { useState } from 'react';

type Todo = { id: number; text: string; done: boolean };

export default function App() {
  const [todos, setTodos] = useState<Todo[]>([]);
  const [text, setText] = useState('');
  const add = () => {
    if (!text.trim()) return;
    setTodos((t) => [...t, { id: Date.now(), text: text.trim(), done: false }]);
    setText('');
  };
  return (
    <main className="p-8 max-w-md mx-auto">
      <h1 data-testid="title" className="text-2xl font-bold mb-4">${title}</h1>
      <div className="flex gap-2 mb-4">
        <input data-testid="new-todo" className="border px-2 flex-1" value={text} placeholder="What needs doing?"
          onChange={(e) => setText(e.target.value)} onKeyDown={(e) => e.key === 'Enter' && add()} />
        <button data-testid="add" className="bg-blue-600 text-white px-3" onClick={add}>Add</button>
      </div>
      <ul data-testid="list">
        {todos.map((t) => (
          <li key={t.id} data-testid="todo" className="flex gap-2 items-center">
            <input type="checkbox" data-testid="toggle" checked={t.done}
              onChange={() => setTodos((all) => all.map((x) => (x.id === t.id ? { ...x, done: !x.done } : x)))} />
            <span data-testid="todo-text" className={t.done ? 'line-through' : ''}>{t.text}</span>
            <button data-testid="delete" onClick={() => setTodos((all) => all.filter((x) => x.id !== t.id))}>Delete</button>
          </li>
        ))}
      </ul>
    </main>
  );
}
`;
}

/**
 * GET without keep-alive: status and body, or the connection error's code. The default bound is for a
 * request that should succeed: a dev server's first transform of a file, on half a CPU of a loaded
 * machine, can take several seconds. A check that a request fails passes a short bound of its own.
 */
export function httpGet(url: string, timeoutMs = 30_000): Promise<{ status?: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ ...(res.statusCode !== undefined ? { status: res.statusCode } : {}), body }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ body: '', error: err.code ?? err.message }));
    req.end();
  });
}

/** Retry an assertion until it passes or `timeoutMs` passes (for what is asynchronous by nature: file watchers, hot reload). */
export async function eventually(check: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
