/** The bucket routes (storage-js's bucket API), one operation per file; all in the authenticated scope. */
import type { RouteRegistrar } from '../../scopes.ts';
import createBucket from './createBucket.ts';
import deleteBucket from './deleteBucket.ts';
import emptyBucket from './emptyBucket.ts';
import getBucket from './getBucket.ts';
import listBuckets from './listBuckets.ts';
import updateBucket from './updateBucket.ts';

export const authenticatedRoutes: RouteRegistrar[] = [listBuckets, getBucket, createBucket, updateBucket, emptyBucket, deleteBucket];
