import type { RequestState } from '../../lib/useRequest';
import { ResultCard } from '../../components/ResultCard';
import type { Todo } from './api';

export function TodoList({ state, onRetry }: { state: RequestState<{ todos: Todo[] }>; onRetry: () => void }) {
  return (
    <ResultCard id="todos" title="Todos" source="GET /api/todos" state={state} onRetry={onRetry}>
      {({ todos }) =>
        todos.length === 0 ? (
          <p className="empty">Nothing to do: your todo list is empty.</p>
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
