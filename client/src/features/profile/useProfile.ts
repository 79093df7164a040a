import { useRequest } from '../../lib/useRequest';
import { fetchProfile } from './api';

export const useProfile = () => useRequest(fetchProfile);
