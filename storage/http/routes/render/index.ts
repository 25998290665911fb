/** The image transform routes (transform.ts), one file per way of reaching an object. */
import type { RouteRegistrar } from '../../scopes.ts';
import { renderAuthenticatedImage, renderPublicImage } from './renderImage.ts';
import renderSignedImage from './renderSignedImage.ts';

export const authenticatedRoutes: RouteRegistrar[] = [renderAuthenticatedImage];
export const publicRoutes: RouteRegistrar[] = [renderPublicImage, renderSignedImage];
