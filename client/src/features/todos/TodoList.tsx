import type { RequestState } from '../../lib/useRequest';
import { ResultCard } from '../../components/ResultCard';
import type { Todo } from './api';

export function TodoList({ state }: { state: RequestState<{ todos: Todo[] }> }) {
  return (
    <ResultCard id="todos" title="Todos" source="GET /api/todos" state={state} idle="Call the API to load your todos.">
      {({ todos }) =>
        todos.length === 0 ? (
          <p className="muted">No todos yet.</p>
        ) : (
          <ul className="todos">
            {todos.map((todo) => (
              <li key={todo.id} className={todo.done ? 'done' : undefined}>
                <span className="todo-mark" aria-hidden="true" />
                <span className="todo-title">{todo.title}</span>
                <span className="badge">{todo.done ? 'Done' : 'Open'}</span>
              </li>
            ))}
          </ul>
        )
      }
    </ResultCard>
  );
}
