import { useRequest } from '../../lib/useRequest';
import { fetchTodos } from './api';

export const useTodos = () => useRequest(fetchTodos);
