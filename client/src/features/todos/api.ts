import { bffFetch } from '../../bffFetch';

export interface Todo {
  id: number;
  title: string;
  done: boolean;
}

/** GET /api/todos through the BFF. */
export function fetchTodos(signal?: AbortSignal): Promise<{ todos: Todo[] }> {
  return bffFetch<{ todos: Todo[] }>('/api/todos', { signal });
}
