/**
 * The object routes (storage-js's file API), one operation per file: those that need a verified
 * caller in the authenticated scope, those anyone may call (public buckets, signed URLs and
 * uploads, reads where a bad token is anon) in the public scope.
 */
import type { RouteRegistrar } from '../../scopes.ts';
import copyObject from './copyObject.ts';
import createObject from './createObject.ts';
import deleteObjects from './deleteObjects.ts';
import { getAuthenticatedObject, getObject, getPublicObject } from './getObject.ts';
import getObjectInfo from './getObjectInfo.ts';
import getSignedObject from './getSignedObject.ts';
import getSignedUploadURL from './getSignedUploadURL.ts';
import getSignedURL from './getSignedURL.ts';
import getSignedURLs from './getSignedURLs.ts';
import listObjects from './listObjects.ts';
import listObjectsV2 from './listObjectsV2.ts';
import moveObject from './moveObject.ts';
import uploadSignedObject from './uploadSignedObject.ts';

export const authenticatedRoutes: RouteRegistrar[] = [
  createObject, getAuthenticatedObject, deleteObjects, getSignedURL, getSignedURLs, getSignedUploadURL, moveObject, copyObject, listObjects, listObjectsV2,
];

export const publicRoutes: RouteRegistrar[] = [getObject, getPublicObject, getObjectInfo, getSignedObject, uploadSignedObject];
